import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ClusterMembership } from '@shoal/nest';
import { NODE_CONTEXT, type NodeContext } from './context.js';
import { logMemberEvent } from './logger.js';

/** One log line per membership change (the stable `member.*` lines). */
@Injectable()
export class MemberLogService implements OnModuleInit {
  constructor(
    private readonly membership: ClusterMembership,
    @Inject(NODE_CONTEXT) private readonly ctx: NodeContext,
  ) {}

  onModuleInit(): void {
    // Held until events$ completes at the end of the shutdown, so the node's own leave is logged too.
    this.membership.events$.subscribe({
      next: (e) => {
        try {
          logMemberEvent(this.ctx.log, e);
        } catch {
          /* a log line must never break the event stream */
        }
      },
    });
  }
}
