/**
 * The piggyback broadcast queue (SWIM "infection-style" dissemination, as in
 * hashicorp/memberlist's TransmitLimitedQueue).
 *
 * Holds at most one update per member id. Each outgoing ping/ack/ping-req/gossip takes
 * the least-sent updates that fit its byte budget; an update is sent at most
 * retransmitMult × ceil(log10(n + 1)) times, then dropped.
 *
 * Layout: one bucket per transmit count, each an array sorted by enqueue sequence
 * (oldest first, so a new update is an O(1) push and the scan walks each bucket from its
 * end). take() visits buckets from the fewest transmissions up and stops as soon as the
 * budget is spent, so its cost follows the number of updates it returns, not the queue
 * length; moving a sent update to the next bucket is a binary search plus a splice.
 */
import type { MemberUpdate } from './member.js';

export interface BroadcastQueueOptions {
  /** λ: an update is sent at most retransmitMult × ceil(log10(n + 1)) times. Integer >= 1. */
  retransmitMult: number;
  /**
   * Most updates held at once (one per member, so config.maxMembers is a natural value).
   * When full, enqueueing a new member's update drops the most-sent, oldest queued one
   * (counted in `dropped()`). Integer >= 1. Default 10,000.
   */
  maxQueued?: number;
  /**
   * How many updates that do not fit the remaining budget one take() looks past before it
   * stops looking for smaller ones. Bounds the cost of a take() on a long queue once the
   * message is nearly full. Integer >= 0. Default 32.
   */
  maxMisfits?: number;
}

export const BROADCAST_QUEUE_DEFAULTS = { maxQueued: 10_000, maxMisfits: 32 } as const;

interface Entry {
  readonly update: MemberUpdate;
  readonly seq: number;
  transmits: number;
  /** Cached sizeOf(update), valid while sizeFn is the function take() is given. */
  size: number;
  sizeFn: ((u: MemberUpdate) => number) | undefined;
}

/** retransmitMult × ceil(log10(n + 1)), with n taken as at least 1 (so the limit is at least retransmitMult). */
export function broadcastRetransmitLimit(retransmitMult: number, n: number): number {
  const members = Number.isFinite(n) && n > 1 ? n : 1;
  return retransmitMult * Math.ceil(Math.log10(members + 1));
}

export class BroadcastQueue {
  readonly retransmitMult: number;
  readonly maxQueued: number;
  readonly maxMisfits: number;
  private readonly byId = new Map<string, Entry>();
  /** buckets[t]: entries sent t times, ascending by seq. */
  private readonly buckets: Entry[][] = [];
  private nextSeq = 0;
  private droppedCount = 0;

  constructor(opts: BroadcastQueueOptions) {
    const int = (name: string, v: unknown, min: number): number => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
        throw new RangeError(`BroadcastQueue ${name} must be an integer >= ${min}, got ${String(v)}`);
      return v;
    };
    this.retransmitMult = int('retransmitMult', opts.retransmitMult, 1);
    this.maxQueued = int('maxQueued', opts.maxQueued ?? BROADCAST_QUEUE_DEFAULTS.maxQueued, 1);
    this.maxMisfits = int('maxMisfits', opts.maxMisfits ?? BROADCAST_QUEUE_DEFAULTS.maxMisfits, 0);
  }

  /** How many times an update is sent in a cluster of n members. */
  retransmitLimit(n: number): number {
    return broadcastRetransmitLimit(this.retransmitMult, n);
  }

  /**
   * Queues an update; a queued update about the same member id is replaced (the caller
   * has already decided this one is newer) and the transmit count starts again at 0.
   */
  enqueue(update: MemberUpdate): void {
    const old = this.byId.get(update.id);
    if (old) this.detach(old);
    else if (this.byId.size >= this.maxQueued) this.evictOne();
    const entry: Entry = { update, seq: this.nextSeq++, transmits: 0, size: 0, sizeFn: undefined };
    this.byId.set(update.id, entry);
    this.bucket(0).push(entry);
  }

  /** Removes any queued update about id. */
  invalidate(id: string): void {
    const e = this.byId.get(id);
    if (e) {
      this.detach(e);
      this.byId.delete(id);
    }
  }

  /**
   * Chooses updates for one outgoing message: fewest transmissions first (ties: most
   * recently enqueued first), skipping those for which skip(u) is true, taking each only
   * while the running total of sizeOf(u) stays <= budgetBytes (one that does not fit is
   * passed over and smaller ones after it are still considered, up to maxMisfits of them).
   * Each chosen update's transmit count goes up by one; one that reaches
   * retransmitLimit(n) is dropped from the queue. A queued update whose count is already
   * at or above the limit for this n (n shrank) is dropped without being sent, and so is
   * one for which sizeOf returns a negative or non-finite size (both counted in dropped()).
   *
   * sizeOf results are cached per update while the same sizeOf function is passed.
   */
  take(budgetBytes: number, n: number, sizeOf: (u: MemberUpdate) => number, skip?: (u: MemberUpdate) => boolean): MemberUpdate[] {
    const out: MemberUpdate[] = [];
    if (this.byId.size === 0) return out;
    const limit = this.retransmitLimit(n);
    const chosen: Entry[] = [];
    const stale: Entry[] = [];
    let remaining = budgetBytes;
    let misfits = 0;
    // Updates already sent limit times or more (n shrank) are dropped unsent, whether or not the scan reaches them.
    for (let t = limit; t < this.buckets.length; t++) for (const e of this.buckets[t]!) stale.push(e);
    const lastBucket = Math.min(limit, this.buckets.length);
    // With no budget nothing is sent, but over-limit updates are still dropped below.
    scan: for (let t = 0; budgetBytes > 0 && t < lastBucket; t++) {
      const b = this.buckets[t];
      if (!b || b.length === 0) continue;
      for (let i = b.length - 1; i >= 0; i--) {
        const e = b[i]!;
        if (skip && skip(e.update)) continue;
        if (e.sizeFn !== sizeOf) {
          const s = sizeOf(e.update);
          if (typeof s !== 'number' || !Number.isFinite(s) || s < 0) {
            stale.push(e); // unsendable: dropped and counted
            continue;
          }
          e.size = s;
          e.sizeFn = sizeOf;
        }
        if (e.size > remaining) {
          if (++misfits > this.maxMisfits) break scan;
          continue;
        }
        remaining -= e.size;
        chosen.push(e);
        out.push(e.update);
        if (remaining <= 0) break scan;
      }
    }
    for (const e of stale) {
      this.detach(e);
      this.byId.delete(e.update.id);
      this.droppedCount++;
    }
    for (const e of chosen) {
      this.detach(e);
      e.transmits++;
      if (e.transmits >= limit) {
        this.byId.delete(e.update.id);
      } else {
        insertBySeq(this.bucket(e.transmits), e);
      }
    }
    return out;
  }

  /** Updates still queued. */
  size(): number {
    return this.byId.size;
  }

  /** True when there is nothing left to send. */
  isEmpty(): boolean {
    return this.byId.size === 0;
  }

  /** How many times the queued update about id has been sent (undefined if none queued). */
  transmits(id: string): number | undefined {
    return this.byId.get(id)?.transmits;
  }

  /** The queued update about id, if any. */
  get(id: string): MemberUpdate | undefined {
    return this.byId.get(id)?.update;
  }

  /** Updates dropped before reaching their limit (queue full, n shrank below their count, or sizeOf gave no valid size). */
  dropped(): number {
    return this.droppedCount;
  }

  clear(): void {
    this.byId.clear();
    this.buckets.length = 0;
  }

  private bucket(t: number): Entry[] {
    let b = this.buckets[t];
    if (!b) {
      for (let i = this.buckets.length; i <= t; i++) this.buckets[i] = [];
      b = this.buckets[t]!;
    }
    return b;
  }

  private detach(e: Entry): void {
    const b = this.buckets[e.transmits];
    if (!b) return;
    const i = indexBySeq(b, e.seq);
    if (i < b.length && b[i] === e) b.splice(i, 1);
    // trim empty trailing buckets so take() does not walk them
    while (this.buckets.length > 0 && this.buckets[this.buckets.length - 1]!.length === 0) this.buckets.pop();
  }

  /** Drops the most-sent, oldest entry to make room. */
  private evictOne(): void {
    for (let t = this.buckets.length - 1; t >= 0; t--) {
      const b = this.buckets[t];
      if (b && b.length > 0) {
        const e = b[0]!;
        this.detach(e);
        this.byId.delete(e.update.id);
        this.droppedCount++;
        return;
      }
    }
  }
}

/** First index in b (ascending by seq) whose seq is >= seq. */
function indexBySeq(b: Entry[], seq: number): number {
  let lo = 0;
  let hi = b.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (b[mid]!.seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertBySeq(b: Entry[], e: Entry): void {
  const i = indexBySeq(b, e.seq);
  if (i === b.length) b.push(e);
  else b.splice(i, 0, e);
}
