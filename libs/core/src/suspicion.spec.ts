import { describe, expect, it } from '@jest/globals';
import { Suspicion, suspicionTimeoutMs } from './suspicion.js';

describe('suspicionTimeoutMs', () => {
  it.each([
    // k=3, min=4000, max=24000: 24000 - 20000 * log(c+1)/log(4)
    [0, 24000],
    [1, 14000], // log 2 / log 4 = 1/2
    [2, 8150], // 24000 - 20000 * 0.792481... = 8150.37, floored
    [3, 4000],
    [4, 4000], // beyond k: stays at the minimum
  ])('k=3 min=4000 max=24000, %p confirmations -> %p ms', (c, ms) => {
    expect(suspicionTimeoutMs(4000, 24000, 3, c)).toBe(ms);
  });

  it.each([0, 0.5, -1])('k=%p (< 1) gives the minimum at once', (k) => {
    expect(suspicionTimeoutMs(4000, 24000, k, 0)).toBe(4000);
  });

  it('never goes below the minimum, even if max < min', () => {
    expect(suspicionTimeoutMs(4000, 1000, 3, 0)).toBe(4000);
    expect(suspicionTimeoutMs(4000, 4000, 3, 1)).toBe(4000);
  });

  it('shrinks monotonically with confirmations', () => {
    let prev = Infinity;
    for (let c = 0; c <= 8; c++) {
      const t = suspicionTimeoutMs(1000, 60_000, 8, c);
      expect(t).toBeLessThan(prev);
      prev = t;
    }
    expect(prev).toBe(1000);
  });
});

describe('Suspicion', () => {
  const opts = { from: 'a', k: 3, minMs: 4000, maxMs: 24000, start: 10_000 };

  it('deadline starts at start + max and falls with independent confirmations', () => {
    const s = new Suspicion(opts);
    expect(s.deadline()).toBe(34_000);
    expect(s.confirm('b')).toBe(true);
    expect(s.deadline()).toBe(24_000);
    expect(s.confirm('c')).toBe(true);
    expect(s.deadline()).toBe(18_150);
    expect(s.confirm('d')).toBe(true);
    expect(s.deadline()).toBe(14_000);
    expect(s.confirmations()).toBe(3);
    expect(s.remainingMs(13_000)).toBe(1000);
    expect(s.remainingMs(20_000)).toBe(0);
  });

  it('does not count the original suspecter', () => {
    const s = new Suspicion(opts);
    expect(s.confirm('a')).toBe(false);
    expect(s.confirmations()).toBe(0);
    expect(s.deadline()).toBe(34_000);
  });

  it('counts each confirmer once', () => {
    const s = new Suspicion(opts);
    expect(s.confirm('b')).toBe(true);
    expect(s.confirm('b')).toBe(false);
    expect(s.confirm('b')).toBe(false);
    expect(s.confirmations()).toBe(1);
  });

  it('stops counting at k', () => {
    const s = new Suspicion(opts);
    expect(['b', 'c', 'd', 'e', 'f'].map((x) => s.confirm(x))).toEqual([true, true, true, false, false]);
    expect(s.confirmations()).toBe(3);
    expect(s.deadline()).toBe(14_000);
  });

  it('with k = 0 the deadline is start + min and nothing is counted', () => {
    const s = new Suspicion({ ...opts, k: 0 });
    expect(s.deadline()).toBe(14_000);
    expect(s.confirm('b')).toBe(false);
  });

  it.each([
    [{ k: -1 }],
    [{ k: Number.NaN }],
    [{ minMs: -5 }],
    [{ maxMs: Number.POSITIVE_INFINITY }],
    [{ start: Number.NaN }],
  ])('rejects bad options %p', (bad) => {
    expect(() => new Suspicion({ ...opts, ...bad })).toThrow(RangeError);
  });
});
