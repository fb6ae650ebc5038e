/**
 * Randomized round-robin probe order (SWIM §4.3): members are probed in a random order,
 * each once per round, and the order is reshuffled when a round ends. This bounds the
 * time to first detection of a failure to at most two rounds (worst case: probed first
 * in one round, last in the next), unlike picking a target at random every period.
 *
 * Layout: one array of slots, split by a cursor:
 *   [0, cursor)                  visited in this round
 *   [cursor, cursor + priority)  prioritized, probed next, first prioritized first
 *   [cursor + priority, length)  the rest of this round, in random order
 * add() drops a newcomer at a uniformly random position of the unvisited part (push, then
 * swap) and remove() only marks the slot dead; dead slots are skipped and swept out at
 * the end of a round (or sooner, when they outnumber the living). Every operation is
 * O(1), amortised; next() also reshuffles (O(n)) once per round.
 */
import { randomInt, shuffle, type Random } from './random.js';

interface Slot {
  readonly id: string;
  index: number;
  dead: boolean;
}

export interface ProbeSchedulerOptions {
  /**
   * Removed members leave dead slots that are swept at the end of each round; they are
   * swept mid-round too once there are more than this many and more dead than living.
   * Integer >= 0. Default 64.
   */
  compactMinDead?: number;
}

export const PROBE_SCHEDULER_DEFAULTS = { compactMinDead: 64 } as const;

export class ProbeScheduler {
  private order: Slot[] = [];
  private readonly byId = new Map<string, Slot>();
  private cursor = 0;
  private priority = 0;
  private deadCount = 0;
  private completedRounds = 0;

  private readonly compactMinDead: number;

  constructor(
    private readonly random: Random,
    opts: ProbeSchedulerOptions = {},
  ) {
    const c = opts.compactMinDead ?? PROBE_SCHEDULER_DEFAULTS.compactMinDead;
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 0)
      throw new RangeError(`ProbeScheduler compactMinDead must be an integer >= 0, got ${String(c)}`);
    this.compactMinDead = c;
  }

  /** Adds a member at a uniformly random position among those not yet probed in this round (no-op if present). */
  add(id: string): void {
    if (this.byId.has(id)) return;
    const last = this.order.length;
    const slot: Slot = { id, index: last, dead: false };
    this.order.push(slot);
    this.byId.set(id, slot);
    const lo = this.cursor + this.priority;
    this.swap(lo + randomInt(this.random, last + 1 - lo), last);
  }

  remove(id: string): void {
    const slot = this.byId.get(id);
    if (!slot) return;
    this.byId.delete(id);
    slot.dead = true;
    this.deadCount++;
    if (this.deadCount > this.compactMinDead && this.deadCount > this.byId.size) this.compact();
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  size(): number {
    return this.byId.size;
  }

  /** Rounds completed so far (the order is reshuffled at the end of each). */
  round(): number {
    return this.completedRounds;
  }

  /**
   * Puts id at the front of the probe order, behind any member prioritized earlier and
   * not yet probed. A member already probed in this round is probed again.
   */
  prioritize(id: string): void {
    const slot = this.byId.get(id);
    if (!slot) return;
    const k = slot.index;
    const end = this.cursor + this.priority;
    if (k >= this.cursor && k < end) return; // already queued up front
    if (k >= end) {
      this.swap(k, end);
    } else {
      // visited this round: move it to the edge of the visited part, step the cursor back
      // over it, then slide the prioritized ones ahead of it (O(number prioritized)).
      this.swap(k, this.cursor - 1);
      this.cursor--;
      for (let m = this.cursor; m < end - 1; m++) {
        const next = this.order[m + 1]!;
        this.order[m] = next;
        next.index = m;
      }
      this.order[end - 1] = slot;
      slot.index = end - 1;
    }
    this.priority++;
  }

  /**
   * The next member to probe. Ids for which eligible(id) is false are passed over (kept,
   * but not probed in this round). At the end of a round the order is reshuffled.
   * Returns undefined when no member is eligible (after checking each member once).
   */
  next(eligible: (id: string) => boolean): string | undefined {
    if (this.byId.size === 0) return undefined;
    let reshuffled = false;
    for (;;) {
      if (this.cursor >= this.order.length) {
        // A whole fresh round without an eligible member: give up for now.
        if (reshuffled) return undefined;
        this.newRound();
        reshuffled = true;
      }
      const slot = this.order[this.cursor++]!;
      if (this.priority > 0) this.priority--;
      if (slot.dead) continue;
      if (eligible(slot.id)) return slot.id;
    }
  }

  /** Member ids in their current probe order, from the next one to be probed (for inspection and tests). */
  pending(): string[] {
    const out: string[] = [];
    for (let i = this.cursor; i < this.order.length; i++) if (!this.order[i]!.dead) out.push(this.order[i]!.id);
    return out;
  }

  private newRound(): void {
    this.compact();
    shuffle(this.random, this.order);
    for (let i = 0; i < this.order.length; i++) this.order[i]!.index = i;
    this.cursor = 0;
    this.priority = 0;
    this.completedRounds++;
  }

  /** Sweeps dead slots out, keeping the order and the visited / prioritized boundaries. */
  private compact(): void {
    if (this.deadCount === 0) return;
    const kept: Slot[] = [];
    let cursor = 0;
    let priority = 0;
    const end = this.cursor + this.priority;
    for (let i = 0; i < this.order.length; i++) {
      const s = this.order[i]!;
      if (s.dead) continue;
      if (i < this.cursor) cursor++;
      else if (i < end) priority++;
      s.index = kept.length;
      kept.push(s);
    }
    this.order = kept;
    this.cursor = cursor;
    this.priority = priority;
    this.deadCount = 0;
  }

  private swap(a: number, b: number): void {
    if (a === b) return;
    const sa = this.order[a]!;
    const sb = this.order[b]!;
    this.order[a] = sb;
    sb.index = a;
    this.order[b] = sa;
    sa.index = b;
  }
}
