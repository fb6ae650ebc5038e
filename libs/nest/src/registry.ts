import { Inject, Injectable } from '@nestjs/common';
import { MEMBER_STATES, type Member, type MemberState } from '@shoal/core';
import type { NodeRuntime } from '@shoal/transport-quic';
import { SHOAL_RUNTIME } from './constants.js';
import { toMemberQuery, type MembershipQuery } from './query.js';

/** The member table as this node sees it (itself included), sorted by id. */
@Injectable()
export class Registry {
  constructor(@Inject(SHOAL_RUNTIME) private readonly runtime: NodeRuntime) {}

  /** Members matching the query (all when none); throws MemberQueryError on a bad query. */
  members(query?: MembershipQuery): Member[] {
    return this.runtime.members(toMemberQuery(query));
  }

  member(id: string): Member | undefined {
    return this.runtime.member(id);
  }

  /** How many members are in each state. */
  countByState(): Record<MemberState, number> {
    const counts = Object.fromEntries(MEMBER_STATES.map((s) => [s, 0])) as Record<MemberState, number>;
    for (const m of this.runtime.members()) counts[m.state]++;
    return counts;
  }
}
