/**
 * The simulated network's rules and counters: latency, loss (global and per link),
 * partitions between groups of nodes, blocked directed links, and the wire codec that
 * every message goes through. It decides what happens to each message; the SimCluster's
 * event loop carries the decision out. All randomness comes from the Random it is given.
 */
import { MESSAGE_TYPES, type Message, type MessageType, type Random } from '@shoal/core';

/** Turns messages into bytes and back; the default is the core's wire codec. */
export interface WireCodec {
  encode(message: Message): Uint8Array;
  decode(bytes: Uint8Array): Message;
}

export interface NetworkOptions {
  /** Lowest one-way latency (ms). Default 1. */
  minLatencyMs?: number;
  /** Highest one-way latency (ms); each message draws uniformly in [min, max]. Default 5. */
  maxLatencyMs?: number;
  /** Probability in [0, 1] that any message is lost. Default 0. */
  loss?: number;
  /**
   * Run every message through a codec (encode on send, decode on delivery) so byte
   * counts are real and the codec is exercised. `true` (default) uses the core codec,
   * `false` passes message objects through (bytes are then not counted), or give a codec.
   */
  codec?: boolean | WireCodec;
  /**
   * Most messages held for a paused node (its "socket buffer"); more are dropped and
   * counted as `paused-overflow`. Default 4096.
   */
  pausedQueueLimit?: number;
  /** Deliver the messages of one directed link in the order sent (like a stream). Default false. */
  ordered?: boolean;
}

export interface ResolvedNetworkOptions {
  minLatencyMs: number;
  maxLatencyMs: number;
  loss: number;
  codec: WireCodec | undefined;
  pausedQueueLimit: number;
  ordered: boolean;
}

export class SimConfigError extends Error {
  constructor(
    readonly key: string,
    readonly rule: string,
    readonly value: unknown,
  ) {
    super(`invalid simulator option ${key}=${JSON.stringify(value)}: ${rule}`);
    this.name = 'SimConfigError';
  }
}

export function checkProbability(key: string, p: unknown): number {
  if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 1) throw new SimConfigError(key, 'must be a number in [0, 1]', p);
  return p;
}

export function resolveNetworkOptions(o: NetworkOptions, defaultCodec: WireCodec | undefined): ResolvedNetworkOptions {
  const minLatencyMs = o.minLatencyMs ?? 1;
  const maxLatencyMs = o.maxLatencyMs ?? Math.max(5, minLatencyMs);
  if (!Number.isFinite(minLatencyMs) || minLatencyMs < 0) throw new SimConfigError('minLatencyMs', 'must be a finite number >= 0', minLatencyMs);
  if (!Number.isFinite(maxLatencyMs) || maxLatencyMs < minLatencyMs)
    throw new SimConfigError('maxLatencyMs', `must be a finite number >= minLatencyMs (${minLatencyMs})`, maxLatencyMs);
  const loss = checkProbability('loss', o.loss ?? 0);
  const pausedQueueLimit = o.pausedQueueLimit ?? 4096;
  if (!Number.isInteger(pausedQueueLimit) || pausedQueueLimit < 0)
    throw new SimConfigError('pausedQueueLimit', 'must be an integer >= 0', pausedQueueLimit);
  let codec: WireCodec | undefined;
  if (o.codec === undefined || o.codec === true) codec = defaultCodec;
  else if (o.codec === false) codec = undefined;
  else if (typeof o.codec.encode === 'function' && typeof o.codec.decode === 'function') codec = o.codec;
  else throw new SimConfigError('codec', 'must be a boolean or { encode, decode }', o.codec);
  return { minLatencyMs, maxLatencyMs, loss, codec, pausedQueueLimit, ordered: o.ordered ?? false };
}

/** Why a message did not arrive. */
export type DropReason =
  | 'loss'
  | 'partition'
  | 'blocked'
  | 'crashed'
  | 'stopped'
  | 'paused-overflow'
  | 'unknown-address'
  | 'codec-error';

export const DROP_REASONS: readonly DropReason[] = [
  'loss',
  'partition',
  'blocked',
  'crashed',
  'stopped',
  'paused-overflow',
  'unknown-address',
  'codec-error',
];

export interface Counter {
  messages: number;
  bytes: number;
}

/** Messages and bytes, in total and per message type. */
export interface TrafficCounters extends Counter {
  byType: Record<MessageType, Counter>;
}

export function newTraffic(): TrafficCounters {
  const byType = {} as Record<MessageType, Counter>;
  for (const t of MESSAGE_TYPES) byType[t] = { messages: 0, bytes: 0 };
  return { messages: 0, bytes: 0, byType };
}

export function addTraffic(c: TrafficCounters, type: MessageType, bytes: number): void {
  c.messages++;
  c.bytes += bytes;
  const t = c.byType[type];
  t.messages++;
  t.bytes += bytes;
}

export function cloneTraffic(c: TrafficCounters): TrafficCounters {
  const byType = {} as Record<MessageType, Counter>;
  for (const t of MESSAGE_TYPES) byType[t] = { ...c.byType[t] };
  return { messages: c.messages, bytes: c.bytes, byType };
}

/** a − b, field by field (for traffic over a window). */
export function diffTraffic(a: TrafficCounters, b: TrafficCounters): TrafficCounters {
  const byType = {} as Record<MessageType, Counter>;
  for (const t of MESSAGE_TYPES) byType[t] = { messages: a.byType[t].messages - b.byType[t].messages, bytes: a.byType[t].bytes - b.byType[t].bytes };
  return { messages: a.messages - b.messages, bytes: a.bytes - b.bytes, byType };
}

export function newDropCounts(): Record<DropReason, number> {
  const out = {} as Record<DropReason, number>;
  for (const r of DROP_REASONS) out[r] = 0;
  return out;
}

const linkKey = (from: string, to: string): string => `${from}\u0000${to}`;

/**
 * Partitions, blocked links and loss between node ids. Node ids, not addresses: a
 * restarted node keeps its id and address, and its links keep their faults.
 */
export class LinkRules {
  /** Group index per node id while a partition is in force; unlisted nodes are group 0. */
  private groups: Map<string, number> | undefined;
  private readonly blocked = new Set<string>();
  private readonly linkLoss = new Map<string, number>();
  loss: number;

  constructor(loss: number) {
    this.loss = loss;
  }

  /** Splits the cluster: messages between different groups are dropped. Nodes not listed form one more group. */
  partition(groups: readonly (readonly string[])[]): void {
    const map = new Map<string, number>();
    groups.forEach((g, i) => {
      for (const id of g) {
        if (map.has(id)) throw new SimConfigError('partition', `node ${id} is in two groups`, id);
        map.set(id, i + 1);
      }
    });
    this.groups = map;
  }

  isPartitioned(): boolean {
    return this.groups !== undefined;
  }

  /** The group of a node under the current partition (0 = not listed), or undefined when there is none. */
  groupOf(id: string): number | undefined {
    return this.groups ? (this.groups.get(id) ?? 0) : undefined;
  }

  heal(): void {
    this.groups = undefined;
    this.blocked.clear();
  }

  block(from: string, to: string): void {
    this.blocked.add(linkKey(from, to));
  }

  unblock(from: string, to: string): void {
    this.blocked.delete(linkKey(from, to));
  }

  hasBlocks(): boolean {
    return this.blocked.size > 0;
  }

  isBlocked(from: string, to: string): boolean {
    return this.blocked.size > 0 && this.blocked.has(linkKey(from, to));
  }

  setLinkLoss(from: string, to: string, p: number): void {
    checkProbability('linkLoss', p);
    if (p === 0) this.linkLoss.delete(linkKey(from, to));
    else this.linkLoss.set(linkKey(from, to), p);
  }

  /** Loss probability of one directed link: global and per-link losses are independent. */
  lossOf(from: string, to: string): number {
    if (this.linkLoss.size === 0) return this.loss;
    const l = this.linkLoss.get(linkKey(from, to)) ?? 0;
    return 1 - (1 - this.loss) * (1 - l);
  }

  /** Whether the path from → to is cut (partition or block); loss is drawn separately. */
  cut(from: string, to: string): 'partition' | 'blocked' | undefined {
    if (this.groups && (this.groups.get(from) ?? 0) !== (this.groups.get(to) ?? 0)) return 'partition';
    if (this.isBlocked(from, to)) return 'blocked';
    return undefined;
  }

  /** Draws whether one message on from → to is lost. Consumes randomness only when loss is possible. */
  lost(from: string, to: string, random: Random): boolean {
    const p = this.lossOf(from, to);
    return p > 0 && random.next() < p;
  }
}
