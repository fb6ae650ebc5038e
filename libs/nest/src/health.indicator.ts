import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import type { NodeRuntime } from '@shoal/transport-quic';
import { SHOAL_OPTIONS, SHOAL_RUNTIME } from './constants.js';
import { ShoalLifecycle } from './lifecycle.js';
import type { ResolvedShoalOptions } from './options.js';

export interface ShoalReadiness {
  ready: boolean;
  /** The runtime is running (sockets open, protocol ticking). */
  running: boolean;
  /** Joined through a seed (or had none) and not leaving. */
  joined: boolean;
  healthScore: number;
  healthThreshold: number;
  shuttingDown: boolean;
  /** Members alive or suspect, this node included. */
  liveMembers: number;
}

/**
 * Terminus health indicator.
 *   ready: joined, local health score < readyHealthThreshold, and not shutting down.
 *   live:  the runtime is running.
 * Use with HealthCheckService: `health.check([() => shoal.isReady()])`.
 */
@Injectable()
export class ShoalHealthIndicator {
  private readonly indicator = new HealthIndicatorService();

  constructor(
    @Inject(SHOAL_RUNTIME) private readonly runtime: NodeRuntime,
    @Inject(SHOAL_OPTIONS) private readonly options: ResolvedShoalOptions,
    private readonly lifecycle: ShoalLifecycle,
  ) {}

  /** The readiness facts, without terminus. */
  readiness(): ShoalReadiness {
    const running = this.runtime.running;
    const joined = this.runtime.isReady();
    const healthScore = this.runtime.healthScore();
    const shuttingDown = this.lifecycle.shuttingDown;
    const ready = running && joined && !shuttingDown && healthScore < this.options.readyHealthThreshold;
    return {
      ready,
      running,
      joined,
      healthScore,
      healthThreshold: this.options.readyHealthThreshold,
      shuttingDown,
      liveMembers: this.runtime.members({ states: ['alive', 'suspect'] }).length,
    };
  }

  /** Readiness as a terminus result (down while joining, unhealthy or shutting down). */
  isReady<const K extends string = 'shoal'>(key: K = 'shoal' as K): HealthIndicatorResult<K> {
    const r = this.readiness();
    const session = this.indicator.check(key);
    const data = { id: this.runtime.id, address: this.runtime.address, ...r };
    return r.ready ? session.up(data) : session.down(data);
  }

  /** Liveness as a terminus result (down once the runtime has stopped). */
  isLive<const K extends string = 'shoal'>(key: K = 'shoal' as K): HealthIndicatorResult<K> {
    const session = this.indicator.check(key);
    const data = { id: this.runtime.id, running: this.runtime.running };
    return this.runtime.running ? session.up(data) : session.down(data);
  }
}
