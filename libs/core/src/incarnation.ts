/**
 * Precedence between two statements about one member. Only the member itself ever raises
 * its incarnation (to refute a suspicion, announce new tags, or leave); everyone else
 * speaks at the incarnation they know. So:
 * - a higher incarnation wins, a lower one is rejected;
 * - at equal incarnation the more severe state wins: left > failed > suspect > alive.
 */
import type { Member, MemberState, MemberUpdate } from './member.js';

export const STATE_RANK: Readonly<Record<MemberState, number>> = { alive: 0, suspect: 1, failed: 2, left: 3 };

/** True when `update` must replace what we hold (`current`, or nothing). */
export function supersedes(update: MemberUpdate, current: Pick<Member, 'incarnation' | 'state'> | undefined): boolean {
  if (!current) return true;
  if (update.incarnation !== current.incarnation) return update.incarnation > current.incarnation;
  return STATE_RANK[update.state] > STATE_RANK[current.state];
}
