import { Inject, Injectable } from '@nestjs/common';
import type { MemberEvent } from '@shoal/core';
import { OnMemberEvent } from '@shoal/nest';
import type { Logger } from 'pino';

export const EXAMPLE_LOGGER = Symbol('example-logger');

/** Logs every membership change as one JSON line: event, member, address, incarnation, tags, time. */
@Injectable()
export class MemberLogger {
  constructor(@Inject(EXAMPLE_LOGGER) private readonly log: Logger) {}

  @OnMemberEvent()
  onMember(e: MemberEvent): void {
    const m = e.member;
    this.log.info(
      { event: `member.${e.type}`, member: m.id, address: m.address, incarnation: m.incarnation, tags: m.tags, time: e.time },
      `member ${m.id} ${e.type}`,
    );
  }

  /** Only failures, to show a typed subscription. */
  @OnMemberEvent('failed')
  onFailed(e: MemberEvent): void {
    this.log.warn({ member: e.member.id }, 'a member failed (it did not leave gracefully)');
  }
}
