import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ProbeScheduler } from './probe-scheduler.js';
import { SeededRandom } from './random.js';

const all = (): boolean => true;
const names = (n: number, prefix = 'm'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

function withMembers(n: number, seed = 1): ProbeScheduler {
  const s = new ProbeScheduler(new SeededRandom(seed));
  for (const id of names(n)) s.add(id);
  return s;
}

describe('ProbeScheduler', () => {
  it('returns undefined when empty or when nobody is eligible', () => {
    const s = new ProbeScheduler(new SeededRandom(1));
    expect(s.next(all)).toBeUndefined();
    s.add('a');
    s.add('b');
    expect(s.next(() => false)).toBeUndefined();
    expect(s.next(() => false)).toBeUndefined();
    expect(s.size()).toBe(2);
    expect(['a', 'b']).toContain(s.next(all));
  });

  it('add is idempotent; remove and has', () => {
    const s = new ProbeScheduler(new SeededRandom(1));
    s.add('a');
    s.add('a');
    expect(s.size()).toBe(1);
    s.remove('a');
    s.remove('a');
    s.remove('nope');
    expect(s.has('a')).toBe(false);
    expect(s.size()).toBe(0);
    expect(s.next(all)).toBeUndefined();
    s.add('a');
    expect(s.next(all)).toBe('a');
    expect(s.next(all)).toBe('a');
  });

  it('probes every member once per round, in a fresh random order each round', () => {
    const s = withMembers(50);
    const rounds: string[][] = [];
    for (let r = 0; r < 4; r++) rounds.push(Array.from({ length: 50 }, () => s.next(all)!));
    for (const r of rounds) expect([...r].sort()).toEqual(names(50).sort());
    expect(new Set(rounds.map((r) => r.join())).size).toBe(4);
    expect(s.round()).toBe(3);
  });

  it('every member is probed exactly once per round under random add/remove (property)', () => {
    type Op = { k: 'add'; id: number } | { k: 'remove'; id: number } | { k: 'next' };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 2, arbitrary: fc.record({ k: fc.constant('add' as const), id: fc.integer({ min: 0, max: 24 }) }) },
      { weight: 2, arbitrary: fc.record({ k: fc.constant('remove' as const), id: fc.integer({ min: 0, max: 24 }) }) },
      { weight: 5, arbitrary: fc.record({ k: fc.constant('next' as const) }) },
    );
    fc.assert(
      fc.property(fc.integer(), fc.array(op, { maxLength: 400 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 6 }), (seed, ops, skipMod, compactMinDead) => {
        const s = new ProbeScheduler(new SeededRandom(seed), { compactMinDead });
        // members whose number is divisible by skipMod + 2 are never eligible (skipMod 5: everyone eligible)
        const eligible = (id: string): boolean => skipMod === 5 || Number(id) % (skipMod + 2) !== 0;
        const members = new Set<string>();
        let atStart = new Set<string>();
        let touched = new Set<string>(); // removed or re-added during the current round
        let addedDuring = new Set<string>();
        let counts = new Map<string, number>();
        let round = s.round();
        const finishRound = (): void => {
          for (const [id, c] of counts) {
            if (!touched.has(id)) expect(c).toBe(1);
            expect(eligible(id)).toBe(true);
          }
          for (const id of members) {
            if ((atStart.has(id) || addedDuring.has(id)) && !touched.has(id) && eligible(id)) expect(counts.get(id)).toBe(1);
          }
        };
        for (const o of ops) {
          if (o.k === 'add') {
            const id = String(o.id);
            if (!members.has(id)) {
              if (counts.has(id) || atStart.has(id)) touched.add(id);
              addedDuring.add(id);
            }
            members.add(id);
            s.add(id);
          } else if (o.k === 'remove') {
            const id = String(o.id);
            if (members.has(id)) touched.add(id);
            members.delete(id);
            s.remove(id);
          } else {
            const got = s.next(eligible);
            if (s.round() !== round) {
              expect(s.round()).toBe(round + 1);
              finishRound();
              round = s.round();
              atStart = new Set(members);
              touched = new Set();
              addedDuring = new Set();
              counts = new Map();
            }
            if (got === undefined) {
              expect([...members].some(eligible)).toBe(false);
            } else {
              expect(members.has(got)).toBe(true);
              counts.set(got, (counts.get(got) ?? 0) + 1);
            }
          }
          expect(s.size()).toBe(members.size);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a new member is probed within the current round, at a uniformly random place', () => {
    const waits: number[] = [];
    for (let seed = 1; seed <= 400; seed++) {
      const s = withMembers(40, seed);
      const round = s.round();
      for (let i = 0; i < 10; i++) s.next(all); // 30 left in this round
      s.add('new');
      let calls = 0;
      let got: string | undefined;
      do {
        got = s.next(all);
        calls++;
      } while (got !== 'new');
      expect(s.round()).toBe(round); // still the same round
      expect(calls).toBeLessThanOrEqual(31);
      waits.push(calls);
    }
    const mean = waits.reduce((a, b) => a + b, 0) / waits.length;
    expect(mean).toBeGreaterThan(14); // uniform over 1..31: mean 16
    expect(mean).toBeLessThan(18);
    expect(new Set(waits).size).toBeGreaterThan(25);
  });

  it('a member added after the last probe of a round is probed before the reshuffle', () => {
    const s = withMembers(5);
    for (let i = 0; i < 5; i++) s.next(all);
    s.add('late');
    expect(s.next(all)).toBe('late');
    expect(s.round()).toBe(0);
  });

  it('prioritize puts a member next, first prioritized first, even one already probed', () => {
    const s = withMembers(20);
    const first = s.next(all)!;
    const order = s.pending();
    s.prioritize(order[10]!);
    s.prioritize(order[15]!);
    s.prioritize(order[10]!); // no-op: already up front
    s.prioritize(first); // already probed in this round
    s.prioritize('unknown');
    expect([s.next(all), s.next(all), s.next(all)]).toEqual([order[10], order[15], first]);
    // the rest of the round follows, each once
    const rest = Array.from({ length: 17 }, () => s.next(all)!);
    expect(s.round()).toBe(0);
    expect(new Set([first, ...rest, order[10], order[15]]).size).toBe(20);
  });

  it('a prioritized member that is not eligible is passed over', () => {
    const s = withMembers(10);
    const target = s.pending()[5]!;
    s.prioritize(target);
    expect(s.next((id) => id !== target)).not.toBe(target);
  });

  it('an ineligible member is passed over for the round, and probed again once eligible', () => {
    const s = withMembers(10);
    const seen: string[] = [];
    for (let i = 0; i < 9; i++) seen.push(s.next((id) => id !== 'm3')!);
    expect(seen).not.toContain('m3');
    expect(s.round()).toBe(0);
    const nextRound = Array.from({ length: 10 }, () => s.next(all)!);
    expect(s.round()).toBe(1);
    expect(nextRound).toContain('m3');
  });

  it('is deterministic for a seed', () => {
    const run = (seed: number): string[] => {
      const s = new ProbeScheduler(new SeededRandom(seed));
      const out: string[] = [];
      for (let i = 0; i < 30; i++) {
        s.add(`m${i}`);
        if (i % 3 === 0) out.push(s.next(all)!);
        if (i % 7 === 0) s.remove(`m${i - 2}`);
      }
      for (let i = 0; i < 60; i++) out.push(s.next(all)!);
      return out;
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });

  it('worst case: every member is probed at least once in any 2n - 1 consecutive calls', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const n = 100;
      const s = withMembers(n, seed);
      const last = new Map<string, number>();
      let maxGap = 0;
      for (let call = 0; call < 20 * n; call++) {
        const id = s.next(all)!;
        const prev = last.get(id);
        if (prev !== undefined) maxGap = Math.max(maxGap, call - prev);
        last.set(id, call);
      }
      expect(last.size).toBe(n);
      expect(maxGap).toBeLessThanOrEqual(2 * n - 1);
      expect(maxGap).toBeGreaterThan(n); // the bound is nearly reached: rounds really are reshuffled
    }
  });

  it('rejects a bad compactMinDead', () => {
    expect(() => new ProbeScheduler(new SeededRandom(1), { compactMinDead: -1 })).toThrow(RangeError);
    expect(() => new ProbeScheduler(new SeededRandom(1), { compactMinDead: 1.5 })).toThrow(RangeError);
  });

  it('sweeps removed members mid-round without disturbing the round', () => {
    const s = new ProbeScheduler(new SeededRandom(3), { compactMinDead: 2 });
    for (const id of names(30)) s.add(id);
    const seen = Array.from({ length: 10 }, () => s.next(all)!);
    const pending = s.pending();
    s.prioritize(pending[19]!);
    const ordered = s.pending(); // pending[19] first
    expect(ordered[0]).toBe(pending[19]);
    for (const id of ordered.slice(2, 18)) s.remove(id); // 16 dead > 14 living: swept
    const left = [ordered[0]!, ordered[1]!, ordered[18]!, ordered[19]!];
    expect(s.pending()).toEqual(left);
    s.prioritize(ordered[19]!); // goes right behind the one prioritized before
    const rest = Array.from({ length: 4 }, () => s.next(all)!);
    // the one it displaced takes its old place (swap)
    expect(rest).toEqual([ordered[0], ordered[19], ordered[18], ordered[1]]);
    expect(s.round()).toBe(0);
    const next = Array.from({ length: 14 }, () => s.next(all)!);
    expect(s.round()).toBe(1);
    expect([...next].sort()).toEqual([...seen, ...rest].sort());
  });

  it('stays cheap with 5,000 members and churn', () => {
    const s = new ProbeScheduler(new SeededRandom(7));
    const t0 = performance.now();
    for (let i = 0; i < 5000; i++) s.add(`m${i}`);
    let ops = 5000;
    for (let i = 0; i < 50_000; i++) {
      s.next(all);
      if (i % 5 === 0) s.remove(`m${(i * 7) % 5000}`);
      if (i % 5 === 2) s.add(`m${(i * 11) % 5000}`);
      if (i % 97 === 0) s.prioritize(`m${(i * 13) % 5000}`);
      ops += 1.5;
    }
    const perOp = (performance.now() - t0) / ops;
    expect(perOp).toBeLessThan(0.01); // ms (well under a microsecond measured)
    expect(s.size()).toBeGreaterThan(0);
  });
});
