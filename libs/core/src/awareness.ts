/**
 * Lifeguard "local health awareness": a small integer-like score that rises when this
 * node sees signs that it is itself slow (missed nacks, refuted suspicions, failed
 * probes) and falls when probes succeed. Probe intervals and timeouts are stretched by
 * score + 1, so an overloaded node waits longer before accusing others.
 */
export class Awareness {
  private current = 0;
  private ignoredCount = 0;
  /** Highest score: maxMultiplier - 1 (so the largest scale factor is maxMultiplier). */
  readonly maxScore: number;

  /** @param maxMultiplier largest factor `scale()` applies; finite and >= 1 (config.awarenessMaxMultiplier). */
  constructor(readonly maxMultiplier: number) {
    if (typeof maxMultiplier !== 'number' || !Number.isFinite(maxMultiplier) || maxMultiplier < 1)
      throw new RangeError(`Awareness maxMultiplier must be a finite number >= 1, got ${String(maxMultiplier)}`);
    this.maxScore = maxMultiplier - 1;
  }

  /**
   * Adds delta (negative to improve), clamps to [0, maxMultiplier - 1] and returns the
   * new score. A non-finite delta is ignored (and counted in `ignored()`).
   */
  apply(delta: number): number {
    if (typeof delta !== 'number' || !Number.isFinite(delta)) {
      this.ignoredCount++;
      return this.current;
    }
    this.current = Math.min(this.maxScore, Math.max(0, this.current + delta));
    return this.current;
  }

  score(): number {
    return this.current;
  }

  /** ms stretched by the local health: ms × (score + 1). */
  scale(ms: number): number {
    return ms * (this.current + 1);
  }

  /** How many non-finite deltas were dropped. */
  ignored(): number {
    return this.ignoredCount;
  }
}
