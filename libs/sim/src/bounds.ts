/**
 * How long a SWIM + Lifeguard cluster should take to notice a crash, derived from the
 * configuration (all values in ms). With T = probeIntervalMs:
 *
 * 1. First probe of the crashed member. Every other member probes one target per period in
 *    a randomized round-robin order, so in any period each of the n − 1 probers hits the
 *    crashed member with probability about 1/(n − 1): P(nobody probes it in a period) ≈
 *    (1 − 1/(n − 1))^(n − 1) ≈ 1/e. The wait is about geometric: expected ≈ T·e/(e − 1)
 *    ≈ 1.58 T (SWIM paper, §3.1), and P(wait > k·T) ≈ e^−k. We allow `tailPeriods` = k
 *    periods (default 8: e^−8 ≈ 3·10^−4 per crash).
 * 2. The probe round: direct ping, probe timeout, ping-req through k helpers, and the
 *    suspicion is raised when the period ends: T.
 * 3. The suspicion timeout. suspicionMin(n) = suspicionMult × max(1, log10 n) × T; a
 *    suspicion starts at suspicionMaxMult × min and shrinks (logarithmically) to min once
 *    enough independent confirmations arrive. Worst case without confirmations: max;
 *    with them: min.
 * 4. Dissemination of `failed`: each gossip interval every informed member tells
 *    gossipNodes others, so everyone knows after about ceil(log n / log gossipNodes) gossip
 *    intervals (a conservative count: the informed set grows by a factor of up to
 *    gossipNodes + 1), plus one probe period for members reached only by piggyback and
 *    the network's latency on each hop.
 *
 * bound = firstProbe + probeRound + suspicion + dissemination.
 */
import { suspicionMinMs, type ShoalConfig } from '@shoal/core';

export interface DetectionBound {
  /** Tail allowance for the first probe: tailPeriods × T. */
  readonly firstProbeMs: number;
  /** Expected wait for the first probe, T·e/(e − 1). */
  readonly expectedFirstProbeMs: number;
  readonly probeRoundMs: number;
  readonly suspicionMinMs: number;
  readonly suspicionMaxMs: number;
  readonly disseminationMs: number;
  /** Bound when confirmations shrink the suspicion to its minimum. */
  readonly withConfirmationsMs: number;
  /** Bound with no confirmations at all (the suspicion runs its full maximum). */
  readonly withoutConfirmationsMs: number;
  /** Expected time to the last member's detection when confirmations arrive (no tail allowance). */
  readonly expectedMs: number;
}

export function detectionBound(config: ShoalConfig, n: number, opts: { tailPeriods?: number; maxLatencyMs?: number } = {}): DetectionBound {
  const T = config.probeIntervalMs;
  const k = opts.tailPeriods ?? 8;
  const latency = opts.maxLatencyMs ?? 5;
  const firstProbeMs = k * T;
  const expectedFirstProbeMs = (T * Math.E) / (Math.E - 1);
  const probeRoundMs = T;
  const min = suspicionMinMs(config, n);
  const max = config.suspicionMaxMult * min;
  const hops = Math.max(1, Math.ceil(Math.log(Math.max(2, n)) / Math.log(Math.max(2, config.gossipNodes))));
  const disseminationMs = hops * (config.gossipIntervalMs + latency) + T;
  return {
    firstProbeMs,
    expectedFirstProbeMs,
    probeRoundMs,
    suspicionMinMs: min,
    suspicionMaxMs: max,
    disseminationMs,
    withConfirmationsMs: firstProbeMs + probeRoundMs + min + disseminationMs,
    withoutConfirmationsMs: firstProbeMs + probeRoundMs + max + disseminationMs,
    expectedMs: expectedFirstProbeMs + probeRoundMs + min + disseminationMs,
  };
}
