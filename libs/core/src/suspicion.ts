/**
 * Lifeguard dynamic suspicion timeout (as in the Lifeguard paper and hashicorp/memberlist).
 *
 * A suspicion starts with a long timeout (maxMs) and shrinks it logarithmically toward
 * minMs as other members independently confirm it, reaching minMs after k independent
 * confirmations. A suspect that is really dead is then declared failed quickly, while a
 * lone (possibly overloaded) accuser has to wait the long timeout.
 */

/**
 * Timeout after `confirmations` independent confirmations:
 *   max(minMs, floor(maxMs - (maxMs - minMs) × log(c + 1) / log(k + 1)))
 * with c clamped to [0, k]. When k < 1 the timeout is minMs right away. A maxMs below
 * minMs yields minMs. Fractions of a millisecond are dropped (as memberlist does).
 */
export function suspicionTimeoutMs(minMs: number, maxMs: number, k: number, confirmations: number): number {
  if (!(k >= 1)) return minMs;
  const c = Math.min(k, Math.max(0, Number.isFinite(confirmations) ? confirmations : 0));
  const frac = Math.log(c + 1) / Math.log(k + 1);
  const raw = Math.floor(maxMs - (maxMs - minMs) * frac);
  return Math.max(minMs, raw);
}

export interface SuspicionOptions {
  /** The member that raised the suspicion; its own later reports do not count as confirmations. */
  from: string;
  /** Confirmations needed to reach the minimum timeout (usually the number of indirect probes). */
  k: number;
  /** Shortest timeout (ms), reached at k confirmations. */
  minMs: number;
  /** Starting timeout (ms), with no confirmations. */
  maxMs: number;
  /** Clock time (ms) at which the suspicion started. */
  start: number;
}

/** One running suspicion of one member. */
export class Suspicion {
  readonly from: string;
  readonly k: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly start: number;
  /** Distinct confirmers; holds at most k entries. */
  private readonly confirmers = new Set<string>();

  constructor(opts: SuspicionOptions) {
    for (const key of ['k', 'minMs', 'maxMs', 'start'] as const) {
      const v = opts[key];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`Suspicion ${key} must be a finite number, got ${String(v)}`);
    }
    if (opts.k < 0) throw new RangeError(`Suspicion k must be >= 0, got ${opts.k}`);
    if (opts.minMs < 0) throw new RangeError(`Suspicion minMs must be >= 0, got ${opts.minMs}`);
    this.from = opts.from;
    this.k = opts.k;
    this.minMs = opts.minMs;
    this.maxMs = opts.maxMs;
    this.start = opts.start;
  }

  /**
   * Records a confirmation from another member. Returns true only for a new, independent
   * one: not the original suspecter, not a repeat, and not once k have been counted.
   */
  confirm(from: string): boolean {
    if (this.confirmers.size >= this.k) return false;
    if (from === this.from || this.confirmers.has(from)) return false;
    this.confirmers.add(from);
    return true;
  }

  confirmations(): number {
    return this.confirmers.size;
  }

  /** Current timeout (ms), given the confirmations so far. */
  timeoutMs(): number {
    return suspicionTimeoutMs(this.minMs, this.maxMs, this.k, this.confirmers.size);
  }

  /** Absolute clock time at which the suspect is to be declared failed. */
  deadline(): number {
    return this.start + this.timeoutMs();
  }

  /** Time left until the deadline (never negative). */
  remainingMs(now: number): number {
    return Math.max(0, this.deadline() - now);
  }
}
