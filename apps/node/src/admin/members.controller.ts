import { BadRequestException, Body, Controller, Get, HttpCode, Inject, Post, Put, Query } from '@nestjs/common';
import type { Member } from '@shoal/core';
import { ClusterMembership, InvalidTagsError, MemberQueryError } from '@shoal/nest';
import { NODE_CONTEXT, type NodeContext } from '../context.js';
import { MembersQuery, SetTagsBody } from './dto.js';

/** A member as the admin API shows it. */
export interface MemberView {
  id: string;
  address: string;
  state: string;
  incarnation: number;
  tags: Record<string, string>;
}

function view(m: Member): MemberView {
  return { id: m.id, address: m.address, state: m.state, incarnation: m.incarnation, tags: { ...m.tags } };
}

@Controller('v1')
export class MembersController {
  constructor(
    private readonly membership: ClusterMembership,
    @Inject(NODE_CONTEXT) private readonly ctx: NodeContext,
  ) {}

  /** GET /v1/members?tag=k=v&state=alive (both repeatable): this node's view of the cluster. */
  @Get('members')
  members(@Query() q: MembersQuery): { node: string; members: MemberView[] } {
    try {
      const members = this.membership.members({ tags: q.tag, states: q.state });
      return { node: this.membership.id, members: members.map(view) };
    } catch (e) {
      if (e instanceof MemberQueryError) throw new BadRequestException([e.message]);
      throw e;
    }
  }

  /** GET /v1/self: this node. */
  @Get('self')
  self(): MemberView {
    return view(this.membership.self);
  }

  /** PUT /v1/self/tags { tags }: replaces this node's tags; the change spreads with incarnation + 1. */
  @Put('self/tags')
  setTags(@Body() body: SetTagsBody): MemberView {
    try {
      return view(this.membership.setTags(body.tags));
    } catch (e) {
      if (e instanceof InvalidTagsError || e instanceof RangeError) throw new BadRequestException([e.message]);
      throw e;
    }
  }

  /** POST /v1/leave: the node leaves the cluster gracefully and then exits (code 0). */
  @Post('leave')
  @HttpCode(202)
  leave(): { id: string; status: 'leaving' } {
    // Answer first; the shutdown (leave, close, exit) starts once the reply has gone out.
    setImmediate(() => this.ctx.requestShutdown('POST /v1/leave'));
    return { id: this.membership.id, status: 'leaving' };
  }
}
