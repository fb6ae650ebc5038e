import { describe, expect, it } from '@jest/globals';
import { Awareness } from './awareness.js';

describe('Awareness', () => {
  it('starts healthy', () => {
    const a = new Awareness(8);
    expect(a.score()).toBe(0);
    expect(a.scale(500)).toBe(500);
  });

  it.each([
    // max, deltas, expected score after each
    [8, [1, 1, 1], [1, 2, 3]],
    [8, [-1], [0]],
    [8, [5, 5, -1], [5, 7, 6]],
    [8, [100, -100], [7, 0]],
    [1, [1, 3], [0, 0]],
    [3, [2, -1, 2, -5], [2, 1, 2, 0]],
  ])('max %p: deltas %p give %p (clamped to [0, max-1])', (max, deltas, expected) => {
    const a = new Awareness(max);
    expect(deltas.map((d) => a.apply(d))).toEqual(expected);
    expect(a.score()).toBe(expected[expected.length - 1]);
  });

  it.each([
    [0, 500, 500],
    [1, 500, 1000],
    [3, 200, 800],
    [7, 1000, 8000],
    [20, 1000, 8000], // clamped at max 8 -> score 7
  ])('score raised by %p scales %p ms to %p ms', (delta, ms, out) => {
    const a = new Awareness(8);
    a.apply(delta);
    expect(a.scale(ms)).toBe(out);
  });

  it('ignores and counts non-finite deltas', () => {
    const a = new Awareness(8);
    a.apply(2);
    expect(a.apply(Number.NaN)).toBe(2);
    expect(a.apply(Number.POSITIVE_INFINITY)).toBe(2);
    expect(a.ignored()).toBe(2);
  });

  it.each([0, 0.5, -1, Number.NaN, Number.POSITIVE_INFINITY])('rejects maxMultiplier %p', (m) => {
    expect(() => new Awareness(m)).toThrow(RangeError);
  });
});
