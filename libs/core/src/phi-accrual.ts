/**
 * The phi-accrual failure detector (Hayashibara et al., 2004), in the form Akka and
 * Cassandra use: heartbeat inter-arrival times are kept in a bounded window, assumed
 * normally distributed, and phi = -log10(P(next heartbeat arrives later than now)).
 * phi 1 ≈ 10% chance the member is still fine, phi 8 ≈ 1e-8.
 *
 * Pure: time comes in as `now` (ms). Both heartbeat() and phi() are O(1).
 */

export interface PhiOptions {
  /** How many inter-arrival intervals are kept (a ring buffer). Integer >= 1. */
  windowSize: number;
  /** Floor for the standard deviation (ms), so steady heartbeats do not make phi jump to infinity. > 0. */
  minStdDevMs: number;
  /** Extra time (ms) tolerated on top of the mean interval before phi starts rising. >= 0. */
  acceptablePauseMs: number;
  /**
   * Expected interval (ms) before any is measured. The first heartbeat seeds the window
   * with two synthetic intervals, estimate ± estimate/4 (mean = estimate, stddev = estimate/4),
   * so phi is meaningful right away. > 0.
   */
  firstHeartbeatEstimateMs: number;
}

/**
 * Largest phi ever returned (phi is always finite). phi is computed in the log domain, so
 * it does not saturate when the tail probability underflows a double (about 38
 * deviations late); it only reaches this cap about 320 deviations late, where the cubic
 * term would otherwise run on toward Infinity. Members silent that long all compare equal.
 */
export const PHI_MAX = 1e6;

/** Checks PhiOptions; throws a RangeError naming the offending key. */
export function validatePhiOptions(opts: PhiOptions): void {
  const num = (key: keyof PhiOptions): number => {
    const v = opts[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`phi ${key} must be a finite number, got ${String(v)}`);
    return v;
  };
  const w = num('windowSize');
  if (!Number.isInteger(w) || w < 1) throw new RangeError(`phi windowSize must be an integer >= 1, got ${w}`);
  if (num('minStdDevMs') <= 0) throw new RangeError(`phi minStdDevMs must be > 0, got ${opts.minStdDevMs}`);
  if (num('acceptablePauseMs') < 0) throw new RangeError(`phi acceptablePauseMs must be >= 0, got ${opts.acceptablePauseMs}`);
  if (num('firstHeartbeatEstimateMs') <= 0)
    throw new RangeError(`phi firstHeartbeatEstimateMs must be > 0, got ${opts.firstHeartbeatEstimateMs}`);
}

/**
 * phi for `elapsed` ms since the last heartbeat, given the (pause-shifted) interval mean
 * and the standard deviation, using the logistic approximation of the normal CDF that
 * Akka uses: y = (elapsed - mean) / stdDev, e = exp(-y (1.5976 + 0.070566 y²)),
 * P(later) = e / (1 + e), phi = -log10 P(later).
 * Written as phi = log10(1 + exp(z)) with z = y (1.5976 + 0.070566 y²) (the same value),
 * evaluated without overflow or underflow. Always finite, in [0, PHI_MAX].
 */
export function phiOf(elapsed: number, mean: number, stdDev: number): number {
  const y = (elapsed - mean) / stdDev;
  if (Number.isNaN(y)) return elapsed > mean ? PHI_MAX : 0;
  const z = y * (1.5976 + 0.070566 * y * y);
  // softplus(z) = log(1 + e^z), stable on both sides
  const softplus = z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
  const phi = softplus / Math.LN10;
  if (!(phi < PHI_MAX)) return PHI_MAX; // also catches Infinity
  return phi > 0 ? phi : 0;
}

export class PhiAccrualDetector {
  private readonly opts: PhiOptions;
  private readonly ring: Float64Array;
  private head = 0; // index of the next write
  private count = 0;
  private sum = 0;
  private sumSq = 0;
  private writesSinceResum = 0;
  private last: number | undefined;
  private droppedCount = 0;

  constructor(opts: PhiOptions) {
    validatePhiOptions(opts);
    this.opts = { ...opts };
    this.ring = new Float64Array(opts.windowSize);
  }

  /**
   * Records a heartbeat arrival at `now`. The interval since the previous one enters the
   * window, pushing out the oldest when full. A non-finite `now`, or one earlier than the
   * previous heartbeat, is dropped and counted in `dropped()`.
   */
  heartbeat(now: number): void {
    if (typeof now !== 'number' || !Number.isFinite(now) || (this.last !== undefined && now < this.last)) {
      this.droppedCount++;
      return;
    }
    if (this.last === undefined) {
      const est = this.opts.firstHeartbeatEstimateMs;
      const sd = est / 4;
      this.push(est - sd);
      this.push(est + sd);
    } else {
      this.push(now - this.last);
    }
    this.last = now;
  }

  /** Suspicion level at `now`: 0 before the first heartbeat, otherwise in [0, PHI_MAX]. */
  phi(now: number): number {
    if (this.last === undefined || this.count === 0) return 0;
    if (typeof now !== 'number' || Number.isNaN(now)) return 0;
    const mean = this.sum / this.count;
    const variance = Math.max(0, this.sumSq / this.count - mean * mean);
    const sd = Math.max(Math.sqrt(variance), this.opts.minStdDevMs);
    return phiOf(now - this.last, mean + this.opts.acceptablePauseMs, sd);
  }

  /** Intervals currently in the window (the two synthetic seeds included). */
  samples(): number {
    return this.count;
  }

  /** Mean interval (ms) in the window; undefined before the first heartbeat. */
  mean(): number | undefined {
    return this.count === 0 ? undefined : this.sum / this.count;
  }

  /** Standard deviation (ms) of the window, before the minStdDev floor. */
  stdDev(): number | undefined {
    if (this.count === 0) return undefined;
    const mean = this.sum / this.count;
    return Math.sqrt(Math.max(0, this.sumSq / this.count - mean * mean));
  }

  /** Clock time of the last accepted heartbeat. */
  lastHeartbeat(): number | undefined {
    return this.last;
  }

  /** Heartbeats dropped as invalid (non-finite or going back in time). */
  dropped(): number {
    return this.droppedCount;
  }

  private push(interval: number): void {
    const cap = this.ring.length;
    if (this.count === cap) {
      const old = this.ring[this.head]!;
      this.sum -= old;
      this.sumSq -= old * old;
    } else {
      this.count++;
    }
    this.ring[this.head] = interval;
    this.sum += interval;
    this.sumSq += interval * interval;
    this.head = (this.head + 1) % cap;
    // Running sums drift with rounding error; recompute them exactly once per window of
    // writes (O(windowSize) every windowSize writes: O(1) amortised).
    if (++this.writesSinceResum >= cap) this.resum();
  }

  private resum(): void {
    let s = 0;
    let sq = 0;
    for (let i = 0; i < this.count; i++) {
      const v = this.ring[(this.head - 1 - i + 2 * this.ring.length) % this.ring.length]!;
      s += v;
      sq += v * v;
    }
    this.sum = s;
    this.sumSq = sq;
    this.writesSinceResum = 0;
  }
}

export interface HealthCheckerOptions extends PhiOptions {
  /** phi above which a member counts as over the threshold. > 0. */
  threshold: number;
}

/** One phi-accrual detector per member id. */
export class HealthChecker {
  private readonly opts: HealthCheckerOptions;
  private readonly detectors = new Map<string, PhiAccrualDetector>();

  constructor(opts: HealthCheckerOptions) {
    validatePhiOptions(opts);
    if (typeof opts.threshold !== 'number' || !Number.isFinite(opts.threshold) || opts.threshold <= 0)
      throw new RangeError(`phi threshold must be a finite number > 0, got ${String(opts.threshold)}`);
    this.opts = { ...opts };
  }

  get threshold(): number {
    return this.opts.threshold;
  }

  heartbeat(id: string, now: number): void {
    let d = this.detectors.get(id);
    if (!d) {
      d = new PhiAccrualDetector(this.opts);
      this.detectors.set(id, d);
    }
    d.heartbeat(now);
  }

  /** phi of id at now; 0 for unknown ids. */
  phi(id: string, now: number): number {
    return this.detectors.get(id)?.phi(now) ?? 0;
  }

  isOverThreshold(id: string, now: number): boolean {
    return this.phi(id, now) > this.opts.threshold;
  }

  remove(id: string): void {
    this.detectors.delete(id);
  }

  has(id: string): boolean {
    return this.detectors.has(id);
  }

  ids(): string[] {
    return [...this.detectors.keys()];
  }

  size(): number {
    return this.detectors.size;
  }

  detector(id: string): PhiAccrualDetector | undefined {
    return this.detectors.get(id);
  }

  /** ids whose phi exceeds the threshold, highest first (ties by id, for determinism). */
  overThreshold(now: number): string[] {
    const over: { id: string; phi: number }[] = [];
    for (const [id, d] of this.detectors) {
      const phi = d.phi(now);
      if (phi > this.opts.threshold) over.push({ id, phi });
    }
    over.sort((a, b) => b.phi - a.phi || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return over.map((o) => o.id);
  }
}
