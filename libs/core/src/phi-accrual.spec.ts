import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { HealthChecker, PHI_MAX, PhiAccrualDetector, type PhiOptions, phiOf } from './phi-accrual.js';

const OPTS: PhiOptions = { windowSize: 100, minStdDevMs: 100, acceptablePauseMs: 0, firstHeartbeatEstimateMs: 1000 };

/** A detector that has seen `beats` heartbeats `every` ms apart; returns it and the last heartbeat time. */
function steady(opts: PhiOptions, beats: number, every: number): { d: PhiAccrualDetector; last: number } {
  const d = new PhiAccrualDetector(opts);
  let t = 0;
  for (let i = 0; i < beats; i++) {
    t += every;
    d.heartbeat(t);
  }
  return { d, last: t };
}

describe('phiOf (logistic approximation of the normal tail)', () => {
  it.each([
    // y (standard deviations past the mean) -> -log10 of the true normal tail; approximation within 0.05
    [0, 0.30103],
    [1, 0.79955],
    [2, 1.64302],
    [3, 2.86966],
  ])('y=%p is close to the exact normal value %p', (y, exact) => {
    expect(Math.abs(phiOf(1000 + y * 100, 1000, 100) - exact)).toBeLessThan(0.05);
  });

  it('matches the textbook two-branch form where that form is finite', () => {
    const textbook = (t: number, m: number, s: number): number => {
      const y = (t - m) / s;
      const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
      return t > m ? -Math.log10(e / (1 + e)) : -Math.log10(1 - 1 / (1 + e));
    };
    for (let t = 0; t <= 3000; t += 37) expect(phiOf(t, 1000, 100)).toBeCloseTo(textbook(t, 1000, 100), 9);
  });

  it('keeps growing where the tail probability underflows, and is capped at PHI_MAX', () => {
    // 30 and 40 deviations late: exp(-z) underflows to 0 there (z > 745), yet phi still orders them
    expect(phiOf(5000, 1000, 100)).toBeGreaterThan(phiOf(4000, 1000, 100));
    expect(phiOf(4000, 1000, 100)).toBeGreaterThan(800);
    expect(phiOf(1000 + 400 * 100, 1000, 100)).toBe(PHI_MAX);
    expect(phiOf(1e12, 1000, 100)).toBe(PHI_MAX);
    expect(phiOf(1e300, 0, 0.001)).toBe(PHI_MAX);
    expect(phiOf(-1e12, 1000, 100)).toBe(0);
    expect(phiOf(Number.POSITIVE_INFINITY, 1000, 100)).toBe(PHI_MAX);
    expect(phiOf(0, 1000, 100)).toBeGreaterThanOrEqual(0);
  });
});

describe('PhiAccrualDetector', () => {
  it('is 0 before the first heartbeat', () => {
    const d = new PhiAccrualDetector(OPTS);
    expect(d.phi(5000)).toBe(0);
    expect(d.samples()).toBe(0);
  });

  it('is meaningful right after the first heartbeat (seeded mean = estimate, stddev = estimate/4)', () => {
    const d = new PhiAccrualDetector(OPTS);
    d.heartbeat(10_000);
    expect(d.samples()).toBe(2);
    expect(d.mean()).toBe(1000);
    expect(d.stdDev()).toBe(250);
    expect(d.phi(11_000)).toBeCloseTo(0.30103, 4); // at the mean
    expect(d.phi(11_500)).toBeCloseTo(1.6428, 3); // two deviations later
  });

  it.each([
    // elapsed since the last of many steady 1 s heartbeats (stddev 0 -> floor 100 ms)
    [0, 0],
    [500, 0],
    [900, 0.075],
    [1000, 0.301],
    [1100, 0.7995],
    [1200, 1.6428],
    [1300, 2.9095],
    [1500, 7.2999],
    [2000, 37.5847],
  ])('steady 1 s heartbeats: phi after %p ms is %p', (elapsed, expected) => {
    const { d, last } = steady(OPTS, 300, 1000);
    expect(d.samples()).toBe(100);
    expect(d.mean()).toBe(1000);
    expect(d.phi(last + elapsed)).toBeCloseTo(expected, 3);
  });

  it('phi is non-decreasing in elapsed time (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 0, maxLength: 60 }),
        fc.integer({ min: 1, max: 50 }),
        fc.double({ min: 0.001, max: 2000, noNaN: true }),
        fc.double({ min: 0, max: 5000, noNaN: true }),
        fc.double({ min: -10_000, max: 1e6, noNaN: true }),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        (gaps, windowSize, minStdDevMs, acceptablePauseMs, a, delta) => {
          const d = new PhiAccrualDetector({ windowSize, minStdDevMs, acceptablePauseMs, firstHeartbeatEstimateMs: 1000 });
          let t = 1_000_000;
          d.heartbeat(t);
          for (const g of gaps) d.heartbeat((t += g));
          const p1 = d.phi(t + a);
          const p2 = d.phi(t + a + delta);
          expect(Number.isFinite(p1) && Number.isFinite(p2)).toBe(true);
          expect(p1).toBeGreaterThanOrEqual(0);
          expect(p2).toBeLessThanOrEqual(PHI_MAX);
          expect(p2).toBeGreaterThanOrEqual(p1);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('keeps at most windowSize samples and lets old ones drop out', () => {
    const opts = { ...OPTS, windowSize: 10 };
    const d = new PhiAccrualDetector(opts);
    let t = 0;
    d.heartbeat(t);
    for (let i = 0; i < 10; i++) d.heartbeat((t += 5000)); // slow phase
    expect(d.samples()).toBe(10);
    expect(d.mean()).toBe(5000); // the two seeds are gone
    for (let i = 0; i < 9; i++) d.heartbeat((t += 100));
    expect(d.mean()).toBeCloseTo((9 * 100 + 5000) / 10, 9);
    d.heartbeat((t += 100)); // the last slow interval leaves
    expect(d.samples()).toBe(10);
    expect(d.mean()).toBeCloseTo(100, 9);
    expect(d.stdDev()).toBeCloseTo(0, 6);
    // now 1 s of silence is far beyond normal
    expect(d.phi(t + 1000)).toBeGreaterThan(8);
  });

  it('running sums stay exact over many windows of irregular intervals', () => {
    const d = new PhiAccrualDetector({ ...OPTS, windowSize: 7 });
    let t = 0;
    const intervals: number[] = [];
    d.heartbeat(t);
    for (let i = 0; i < 10_000; i++) {
      const g = 1000 + ((i * 7919) % 613) + 0.1 * (i % 3);
      intervals.push(g);
      d.heartbeat((t += g));
    }
    const last = intervals.slice(-7);
    const mean = last.reduce((a, b) => a + b, 0) / 7;
    const sd = Math.sqrt(last.reduce((a, b) => a + (b - mean) ** 2, 0) / 7);
    expect(d.mean()).toBeCloseTo(mean, 6);
    expect(d.stdDev()).toBeCloseTo(sd, 4);
  });

  it('minStdDev floors the deviation of perfectly steady heartbeats', () => {
    const tight = steady({ ...OPTS, minStdDevMs: 10 }, 200, 1000);
    const loose = steady({ ...OPTS, minStdDevMs: 200 }, 200, 1000);
    expect(tight.d.stdDev()).toBeCloseTo(0, 6);
    // 1.1 s: 10 sd late with a 10 ms floor, 0.5 sd late with a 200 ms floor
    expect(tight.d.phi(tight.last + 1100)).toBeCloseTo(phiOf(1100, 1000, 10), 6);
    expect(loose.d.phi(loose.last + 1100)).toBeCloseTo(phiOf(1100, 1000, 200), 6);
    expect(tight.d.phi(tight.last + 1100)).toBeGreaterThan(30);
    expect(loose.d.phi(loose.last + 1100)).toBeLessThan(1);
  });

  it('acceptable pause shifts the curve right by the pause', () => {
    const base = steady(OPTS, 200, 1000);
    const paused = steady({ ...OPTS, acceptablePauseMs: 3000 }, 200, 1000);
    for (const e of [500, 1000, 1200, 1500, 2500]) {
      expect(paused.d.phi(paused.last + e + 3000)).toBeCloseTo(base.d.phi(base.last + e), 9);
    }
    expect(paused.d.phi(paused.last + 2000)).toBeLessThan(0.01);
    expect(base.d.phi(base.last + 2000)).toBeGreaterThan(30);
  });

  it('drops heartbeats that go back in time or are not finite', () => {
    const d = new PhiAccrualDetector(OPTS);
    d.heartbeat(5000);
    d.heartbeat(4000);
    d.heartbeat(Number.NaN);
    expect(d.dropped()).toBe(2);
    expect(d.samples()).toBe(2);
    expect(d.lastHeartbeat()).toBe(5000);
    expect(d.phi(Number.NaN)).toBe(0);
  });

  it.each([
    [{ windowSize: 0 }],
    [{ windowSize: 2.5 }],
    [{ minStdDevMs: 0 }],
    [{ acceptablePauseMs: -1 }],
    [{ firstHeartbeatEstimateMs: Number.NaN }],
  ])('rejects bad options %p', (bad) => {
    expect(() => new PhiAccrualDetector({ ...OPTS, ...bad })).toThrow(RangeError);
  });
});

describe('HealthChecker', () => {
  const opts = { ...OPTS, threshold: 8 };

  it('tracks one detector per id; unknown ids have phi 0', () => {
    const h = new HealthChecker(opts);
    expect(h.phi('x', 1000)).toBe(0);
    expect(h.isOverThreshold('x', 1e9)).toBe(false);
    for (let t = 0; t <= 100_000; t += 1000) {
      h.heartbeat('a', t);
      h.heartbeat('b', t);
      if (t <= 50_000) h.heartbeat('c', t);
    }
    expect(h.ids().sort()).toEqual(['a', 'b', 'c']);
    expect(h.isOverThreshold('a', 101_000)).toBe(false);
    expect(h.isOverThreshold('c', 101_000)).toBe(true);
    h.remove('c');
    expect(h.ids().sort()).toEqual(['a', 'b']);
    expect(h.phi('c', 101_000)).toBe(0);
  });

  it('overThreshold lists ids above the threshold, highest phi first', () => {
    const h = new HealthChecker(opts);
    for (let t = 0; t <= 20_000; t += 1000) for (const id of ['quiet3s', 'quiet1s', 'quiet5s', 'ok']) h.heartbeat(id, t);
    h.heartbeat('quiet1s', 21_000);
    for (let t = 21_000; t <= 24_000; t += 1000) h.heartbeat('ok', t);
    h.heartbeat('quiet3s', 21_000);
    h.heartbeat('quiet3s', 22_000);
    // at 25 s: ok last beat 1 s ago, quiet3s 3 s ago, quiet1s 4 s ago, quiet5s 5 s ago
    expect(h.overThreshold(25_000)).toEqual(['quiet5s', 'quiet1s', 'quiet3s']);
    expect(h.overThreshold(24_500)).toEqual(['quiet5s', 'quiet1s', 'quiet3s']);
    expect(h.overThreshold(20_500)).toEqual([]);
  });

  it('rejects a bad threshold', () => {
    expect(() => new HealthChecker({ ...opts, threshold: 0 })).toThrow(RangeError);
    expect(() => new HealthChecker({ ...opts, threshold: Number.NaN })).toThrow(RangeError);
  });
});
