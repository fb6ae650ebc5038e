import { Inject, Injectable } from '@nestjs/common';
import type { NodeRuntime } from '@shoal/transport-quic';
import { SHOAL_OPTIONS, SHOAL_RUNTIME } from './constants.js';
import type { ResolvedShoalOptions } from './options.js';

/** Failure-detector views: phi-accrual suspicion per member and the local (Lifeguard) health score. */
@Injectable()
export class HealthChecker {
  constructor(
    @Inject(SHOAL_RUNTIME) private readonly runtime: NodeRuntime,
    @Inject(SHOAL_OPTIONS) private readonly options: ResolvedShoalOptions,
  ) {}

  /** Phi of one member (0 when nothing is known about it yet). */
  phi(id: string): number {
    return this.runtime.phi(id);
  }

  /** Phi of every other member that is alive or suspect. */
  phis(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const m of this.runtime.members({ states: ['alive', 'suspect'] })) if (m.id !== this.runtime.id) out[m.id] = this.runtime.phi(m.id);
    return out;
  }

  /** Lifeguard local health score: 0 = healthy; higher means this node is struggling to keep up. */
  healthScore(): number {
    return this.runtime.healthScore();
  }

  /** The score below which the node counts as ready (option readyHealthThreshold). */
  get threshold(): number {
    return this.options.readyHealthThreshold;
  }

  /** The local health score is under the threshold. */
  isHealthy(): boolean {
    return this.runtime.healthScore() < this.options.readyHealthThreshold;
  }
}
