/**
 * Randomness, as the core sees it: always injected, so that a seed replays a run.
 */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
}

/** An integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random.next() * n);
}

/** Fisher-Yates shuffle in place; returns the same array. */
export function shuffle<T>(random: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    const tmp = items[i]!;
    items[i] = items[j]!;
    items[j] = tmp;
  }
  return items;
}

/**
 * Up to `k` distinct items chosen uniformly from `items` (which is not changed).
 * O(k) expected when k is small against the list (rejection of repeats), else a partial shuffle.
 */
export function sample<T>(random: Random, items: readonly T[], k: number): T[] {
  const n = items.length;
  if (k <= 0 || n === 0) return [];
  if (k * 4 <= n) {
    const picked = new Set<number>();
    const out: T[] = [];
    while (out.length < k) {
      const i = randomInt(random, n);
      if (picked.has(i)) continue;
      picked.add(i);
      out.push(items[i]!);
    }
    return out;
  }
  const copy = items.slice();
  const m = Math.min(k, n);
  for (let i = 0; i < m; i++) {
    const j = i + randomInt(random, n - i);
    const tmp = copy[i]!;
    copy[i] = copy[j]!;
    copy[j] = tmp;
  }
  copy.length = m;
  return copy;
}

/**
 * A small, fast, seeded generator (sfc32 seeded through splitmix32). Deterministic for a
 * given seed on every platform; not for cryptography.
 */
export class SeededRandom implements Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: number) {
    let s = seed >>> 0;
    const split = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split();
    for (let i = 0; i < 12; i++) this.next();
  }

  next(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t / 4294967296;
  }

  /** A new independent generator derived from this one (for per-node streams). */
  fork(): SeededRandom {
    return new SeededRandom(Math.floor(this.next() * 4294967296));
  }
}
