import { Inject, Injectable } from '@nestjs/common';
import type { NodeRuntime, NodeRuntimeStats } from '@shoal/transport-quic';
import { SHOAL_RUNTIME } from './constants.js';

/**
 * The one reader of runtime.stats(). Reading the stats drains the probe round-trip samples
 * (stats().swim.rtts), so every provider reads through here and the samples go to the RTT
 * sinks (the metrics histogram) instead of being lost to whichever caller read first.
 * The core keeps at most 1 024 samples between two reads.
 */
@Injectable()
export class ShoalStatsReader {
  private readonly rttSinks: Array<(rttsMs: readonly number[]) => void> = [];

  constructor(@Inject(SHOAL_RUNTIME) private readonly runtime: NodeRuntime) {}

  /** Registers a consumer of the probe RTT samples (ms) drained by each read. */
  onRtts(sink: (rttsMs: readonly number[]) => void): void {
    this.rttSinks.push(sink);
  }

  read(): NodeRuntimeStats {
    const stats = this.runtime.stats();
    const rtts = stats.swim.rtts;
    if (rtts.length) for (const sink of this.rttSinks) sink(rtts);
    return stats;
  }
}
