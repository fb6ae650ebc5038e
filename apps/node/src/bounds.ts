/**
 * Time bounds a node operator relies on, computed from the protocol settings (the same
 * formulas are in docs/CONFIGURATION.md).
 */
import { suspicionMinMs, type ShoalConfig } from '@shoal/core';

/** Allowance for timers firing late on a busy machine, added to the computed bounds. */
export const SCHEDULING_ALLOWANCE_MS = 1000;

/** Suspicion timeout (ms) a member gets when nobody confirms the suspicion, in a cluster of `liveMembers`. */
export function unconfirmedSuspicionMs(config: ShoalConfig, liveMembers: number): number {
  const min = suspicionMinMs(config, liveMembers);
  // As the core: Lifeguard expects suspicionMult - 2 confirmations, none in clusters too small to give them.
  let k = Math.max(0, Math.round(config.suspicionMult) - 2);
  if (liveMembers - 2 < k) k = 0;
  return k === 0 ? min : config.suspicionMaxMult * min;
}

/**
 * Longest time, after a member dies, until a healthy observer marks it failed, in a cluster
 * of `liveMembers` (the observer included): the observer reaches it within 2·(n−1) probe
 * intervals (randomized round robin), the probe ends one interval later at most (counted in
 * those), then the unconfirmed suspicion timeout runs, plus one gossip interval and the
 * scheduling allowance.
 */
export function failureDetectionBoundMs(config: ShoalConfig, liveMembers: number): number {
  const peers = Math.max(1, liveMembers - 1);
  return 2 * peers * config.probeIntervalMs + unconfirmedSuspicionMs(config, liveMembers) + config.gossipIntervalMs + SCHEDULING_ALLOWANCE_MS;
}
