import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { SHOAL_RUNTIME } from '@shoal/nest';
import type { NodeRuntime } from '@shoal/transport-quic';
import { NODE_CONTEXT, type NodeContext } from './context.js';
import { SeedJoiner } from './seeds.js';

/** Runs the SeedJoiner (seeds resolved on every retry) for the node's runtime. */
@Injectable()
export class SeedJoinerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly joiner: SeedJoiner;
  private readonly indicator = new HealthIndicatorService();

  constructor(@Inject(SHOAL_RUNTIME) runtime: NodeRuntime, @Inject(NODE_CONTEXT) ctx: NodeContext) {
    const log = ctx.log.child({ component: 'seeds' });
    this.joiner = new SeedJoiner(
      {
        get address() {
          return runtime.address;
        },
        get running() {
          return runtime.running;
        },
        join: (seeds) => runtime.join(seeds),
        isReady: () => runtime.isReady(),
        peerCount: () => Math.max(0, runtime.members({ states: ['alive', 'suspect'] }).length - 1),
      },
      {
        seeds: ctx.settings.seeds,
        retryBaseMs: runtime.config.joinRetryBaseMs,
        retryMaxMs: runtime.config.joinRetryMaxMs,
        log: { info: (o, m) => log.info(o, m), warn: (o, m) => log.warn(o, m), debug: (o, m) => log.debug(o, m) },
      },
    );
  }

  onApplicationBootstrap(): void {
    this.joiner.start();
  }

  beforeApplicationShutdown(): void {
    this.joiner.stop();
  }

  /** Terminus check: up when no seeds were given or the node has joined through them. */
  check<const K extends string>(key: K): HealthIndicatorResult<K> {
    const session = this.indicator.check(key);
    const data = { seeds: this.joiner.lastAddresses, rounds: this.joiner.rounds };
    return this.joiner.satisfied ? session.up(data) : session.down(data);
  }
}
