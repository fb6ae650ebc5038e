import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { STATE_RANK, supersedes } from './incarnation.js';
import { MEMBER_STATES, type MemberState, type MemberUpdate } from './member.js';
import { Registry } from './registry.js';

const u = (incarnation: number, state: MemberState): MemberUpdate => ({ id: 'a', address: 'a:1', incarnation, state });

describe('incarnation precedence', () => {
  it('an update about an unknown member is taken', () => {
    expect(supersedes(u(0, 'alive'), undefined)).toBe(true);
  });

  it('a higher incarnation wins, whatever the states', () => {
    for (const held of MEMBER_STATES) for (const incoming of MEMBER_STATES) expect(supersedes(u(3, incoming), u(2, held))).toBe(true);
  });

  it('a lower incarnation is rejected, whatever the states', () => {
    for (const held of MEMBER_STATES) for (const incoming of MEMBER_STATES) expect(supersedes(u(1, incoming), u(2, held))).toBe(false);
  });

  it('at equal incarnation failed and left beat suspect', () => {
    expect(supersedes(u(2, 'failed'), u(2, 'suspect'))).toBe(true);
    expect(supersedes(u(2, 'left'), u(2, 'suspect'))).toBe(true);
    expect(supersedes(u(2, 'suspect'), u(2, 'failed'))).toBe(false);
    expect(supersedes(u(2, 'suspect'), u(2, 'left'))).toBe(false);
  });

  it('at equal incarnation suspect beats alive, and alive cannot undo a suspicion', () => {
    expect(supersedes(u(2, 'suspect'), u(2, 'alive'))).toBe(true);
    expect(supersedes(u(2, 'alive'), u(2, 'suspect'))).toBe(false);
  });

  it('at equal incarnation left beats failed (a graceful leave is never recorded as a failure)', () => {
    expect(supersedes(u(2, 'left'), u(2, 'failed'))).toBe(true);
    expect(supersedes(u(2, 'failed'), u(2, 'left'))).toBe(false);
  });

  it('the same statement twice is not news', () => {
    for (const s of MEMBER_STATES) expect(supersedes(u(2, s), u(2, s))).toBe(false);
  });

  it('states are totally ordered alive < suspect < failed < left', () => {
    expect([STATE_RANK.alive, STATE_RANK.suspect, STATE_RANK.failed, STATE_RANK.left]).toEqual([0, 1, 2, 3]);
  });

  const update = fc.record({
    incarnation: fc.integer({ min: 0, max: 20 }),
    state: fc.constantFrom<MemberState>(...MEMBER_STATES),
  });

  it('incarnations seen for a member never go backwards, in any delivery order (property)', () => {
    fc.assert(
      fc.property(fc.array(update, { minLength: 1, maxLength: 40 }), (updates) => {
        const r = new Registry();
        let last = -1;
        for (const x of updates) {
          r.apply(u(x.incarnation, x.state), 0);
          const held = r.get('a')!.incarnation;
          expect(held).toBeGreaterThanOrEqual(last);
          last = held;
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('the outcome does not depend on delivery order (property)', () => {
    fc.assert(
      fc.property(fc.array(update, { minLength: 1, maxLength: 20 }).chain((xs) => fc.tuple(fc.constant(xs), fc.shuffledSubarray(xs, { minLength: xs.length }))), ([a, b]) => {
        const r1 = new Registry();
        const r2 = new Registry();
        for (const x of a) r1.apply(u(x.incarnation, x.state), 0);
        for (const x of b) r2.apply(u(x.incarnation, x.state), 0);
        const m1 = r1.get('a')!;
        const m2 = r2.get('a')!;
        expect([m1.incarnation, m1.state]).toEqual([m2.incarnation, m2.state]);
      }),
      { numRuns: 500 },
    );
  });
});
