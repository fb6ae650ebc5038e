/**
 * The member table. Every change goes through `apply()`, which enforces the precedence
 * rules of incarnation.ts and reports what changed as a MemberEvent.
 */
import type { MemberEvent, MemberEventType } from './effects.js';
import { supersedes } from './incarnation.js';
import type { Member, MemberState, MemberUpdate, Tags } from './member.js';
import { tagsEqual } from './member.js';
import { matchesAll, type TagSelector } from './tags.js';

export interface MemberQuery {
  /** Only members in one of these states (default: all). */
  readonly states?: readonly MemberState[];
  /** Only members whose tags match every selector. */
  readonly tags?: readonly TagSelector[];
}

export interface ApplyResult {
  /** True when the update replaced what was held (or added a member). */
  readonly applied: boolean;
  readonly member?: Member;
  readonly previous?: Member;
  /** The change, when it is one applications care about. */
  readonly event?: MemberEvent;
}

const EMPTY_TAGS: Tags = Object.freeze({});

export class Registry {
  private readonly byId = new Map<string, Member>();
  private readonly counts: Record<MemberState, number> = { alive: 0, suspect: 0, failed: 0, left: 0 };

  get(id: string): Member | undefined {
    return this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  get size(): number {
    return this.byId.size;
  }

  count(state: MemberState): number {
    return this.counts[state];
  }

  /** Members not failed and not left (the n of the protocol's formulas). */
  liveCount(): number {
    return this.counts.alive + this.counts.suspect;
  }

  all(): IterableIterator<Member> {
    return this.byId.values();
  }

  query(q: MemberQuery = {}): Member[] {
    const out: Member[] = [];
    for (const m of this.byId.values()) {
      if (q.states && !q.states.includes(m.state)) continue;
      if (q.tags && q.tags.length && !matchesAll(m.tags, q.tags)) continue;
      out.push(m);
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * Applies `update` if it supersedes what is held. Tags left out of the update are kept
   * from the current entry. Returns what happened.
   */
  apply(update: MemberUpdate, now: number): ApplyResult {
    const previous = this.byId.get(update.id);
    if (!supersedes(update, previous)) return { applied: false, member: previous };
    const member: Member = {
      id: update.id,
      address: update.address,
      incarnation: update.incarnation,
      state: update.state,
      tags: update.tags ?? previous?.tags ?? EMPTY_TAGS,
      stateChangedAt: previous && previous.state === update.state ? previous.stateChangedAt : now,
    };
    this.set(member, previous);
    const type = eventType(previous, member);
    return { applied: true, member, previous, event: type ? { type, member, previous, time: now } : undefined };
  }

  /** Replaces an entry unconditionally (for the node's own record). */
  put(member: Member): void {
    this.set(member, this.byId.get(member.id));
  }

  remove(id: string): Member | undefined {
    const m = this.byId.get(id);
    if (m) {
      this.byId.delete(id);
      this.counts[m.state]--;
    }
    return m;
  }

  private set(member: Member, previous: Member | undefined): void {
    if (previous) this.counts[previous.state]--;
    this.counts[member.state]++;
    this.byId.set(member.id, member);
  }
}

function eventType(previous: Member | undefined, member: Member): MemberEventType | undefined {
  if (!previous) return member.state === 'alive' ? 'joined' : member.state;
  if (previous.state !== member.state) return member.state;
  if (member.state === 'alive' && (previous.address !== member.address || !tagsEqual(previous.tags, member.tags)))
    return 'updated';
  return undefined;
}
