import { Inject, Injectable } from '@nestjs/common';
import type { NodeRuntime, NodeRuntimeStats } from '@shoal/transport-quic';
import { SHOAL_RUNTIME } from './constants.js';

/**
 * How the providers read the runtime's counters: `read()` is a snapshot and changes nothing;
 * the probe round-trip samples are taken separately (`takeRttSamples()`, each handed over
 * once: the metrics histogram is their one taker). The core keeps at most 1 024 samples
 * between two takes.
 */
@Injectable()
export class ShoalStatsReader {
  constructor(@Inject(SHOAL_RUNTIME) private readonly runtime: NodeRuntime) {}

  read(): NodeRuntimeStats {
    return this.runtime.stats();
  }

  /** Round-trip times (ms) of successful direct probes since the last take. */
  takeRttSamples(): number[] {
    return this.runtime.takeRttSamples();
  }
}
