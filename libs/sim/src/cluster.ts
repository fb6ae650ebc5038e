/**
 * SimCluster: many SwimNodes in one process, on one ManualClock, over a simulated network,
 * driven by a discrete-event loop. Every message delivery, node wake-up and scripted action
 * is an entry in one queue ordered by (time, insertion order); all randomness comes from one
 * SeededRandom(seed): the network draws from its own fork and every node gets a fork of its
 * own. The same seed and the same script therefore give the same run, event for event, and
 * `traceHash()` proves it.
 */
import {
  ManualClock,
  SeededRandom,
  SwimNode,
  decode as coreDecode,
  encode as coreEncode,
  resolveConfig,
  type Effect,
  type Member,
  type MemberEvent,
  type Message,
  type MessageType,
  type PresetName,
  type ShoalConfig,
  type SwimNodeOptions,
  type Tags,
} from '@shoal/core';
import { InvariantViolation, SimError } from './errors.js';
import { EventQueue } from './event-queue.js';
import { falseFailureCheck, incarnationCheck } from './invariants.js';
import {
  LinkRules,
  SimConfigError,
  addTraffic,
  checkProbability,
  cloneTraffic,
  newDropCounts,
  newTraffic,
  resolveNetworkOptions,
  type DropReason,
  type NetworkOptions,
  type ResolvedNetworkOptions,
  type TrafficCounters,
} from './network.js';
import { TraceHash } from './trace.js';

/** What the simulator needs of a protocol node: the part of SwimNode's API it drives. */
export interface SimulatedNode {
  readonly id: string;
  readonly address: string;
  start(): Effect[];
  join(seeds: readonly string[]): Effect[];
  receive(message: Message): Effect[];
  tick(): Effect[];
  nextWakeAt(): number | undefined;
  leave(): Effect[];
  leaveDone(): boolean;
  setTags(tags: Tags): Effect[];
  stop(): void;
  self(): Member;
  members(): Member[];
  member(id: string): Member | undefined;
}

export type NodeFactory = (opts: SwimNodeOptions) => SimulatedNode;

export interface SimClusterOptions {
  /** Seed of every random draw in the run. */
  seed: number;
  /** Nodes created up front (ids n1 … n<size>). Default 0. */
  size?: number;
  /** Protocol preset. Default 'lan'. */
  preset?: PresetName;
  /** Overrides on the preset (validated by resolveConfig). */
  config?: Partial<ShoalConfig>;
  network?: NetworkOptions;
  /** How many of the first nodes added act as join seeds. Default 1. */
  seeds?: number;
  /** Keep every member event in `events` (memory grows with n²). Default true. Hooks and the trace hash run regardless. */
  recordEvents?: boolean;
  /** Check on every event that incarnations never go backwards. Default true. */
  checkIncarnations?: boolean;
  /** Check on every event that no live, unimpaired member is marked failed. Default true. */
  checkFalseFailures?: boolean;
  /**
   * How long after an impairment (crash, pause, partition, blocked link) ends a failure of
   * the member's old incarnation is still put down to it. Default: see `defaultFailureGraceMs`.
   */
  failureGraceMs?: number;
  /** Makes the nodes; default `new SwimNode(opts)`. */
  nodeFactory?: NodeFactory;
  /** A node whose wake-up time stays at `now` after this many ticks in a row is reported as stuck. Default 10 000. */
  maxTicksPerInstant?: number;
  /** Most anomalies kept as text (all are counted). Default 100. */
  maxAnomalies?: number;
}

export type NodeStatus = 'created' | 'running' | 'leaving' | 'left' | 'crashed';

/** A member event as the simulator logged it: who saw it, when, and in which life of the observer. */
export interface LoggedEvent {
  readonly seq: number;
  readonly time: number;
  readonly observer: string;
  /** Incremented each time the observer is restarted. */
  readonly observerEpoch: number;
  readonly event: MemberEvent;
}

export type EventListener = (e: LoggedEvent, cluster: SimCluster) => void;

export type MessageOutcome = 'delivered' | DropReason;

/** One message as the network handled it: delivered (at `time`) or dropped (and why). */
export interface MessageRecord {
  readonly time: number;
  /** Sender id. */
  readonly from: string;
  /** Receiver id (or the unknown address, for `unknown-address`). */
  readonly to: string;
  readonly message: Message;
  /** Encoded size in bytes (0 without the codec). */
  readonly size: number;
  readonly outcome: MessageOutcome;
}

export type MessageListener = (m: MessageRecord, cluster: SimCluster) => void;

export type ImpairmentKind = 'crash' | 'pause' | 'partition' | 'blocked' | 'declared';

/** A stretch of time during which a member may legitimately be marked failed. */
export interface Impairment {
  readonly kind: ImpairmentKind;
  readonly from: number;
  /** When it ended; undefined while it lasts. */
  to?: number;
  /** The member's incarnation when it ended: later incarnations get no excuse from it. */
  incarnationAtEnd?: number;
  /** For declared windows: the only observer excused (default: any). */
  readonly observer?: string;
}

export interface NodeTraffic {
  sent: TrafficCounters;
  received: TrafficCounters;
}

interface Slot {
  readonly id: string;
  readonly address: string;
  readonly index: number;
  readonly initialTags: Tags;
  node: SimulatedNode | undefined;
  status: NodeStatus;
  paused: boolean;
  epoch: number;
  wakeAt: number | undefined;
  wakeToken: number;
  lastTickAt: number;
  ticksAtInstant: number;
  pausedQueue: Delivery[];
  readonly sent: TrafficCounters;
  readonly received: TrafficCounters;
  readonly impairments: Impairment[];
  /** Impairment windows still open, by kind (at most one per kind). */
  readonly open: Partial<Record<ImpairmentKind, Impairment>>;
}

interface Delivery {
  readonly kind: 'deliver';
  readonly to: Slot;
  readonly from: string;
  readonly type: MessageType;
  readonly size: number;
  readonly bytes: Uint8Array | undefined;
  readonly message: Message | undefined;
  /** Already in the receiver's buffer (queued while paused): the network is behind it. */
  readonly buffered: boolean;
}

interface Wake {
  readonly kind: 'wake';
  readonly slot: Slot;
  readonly token: number;
}

interface Call {
  readonly kind: 'call';
  readonly fn: () => void;
}

type Item = Delivery | Wake | Call;

const DEFAULT_CODEC = { encode: coreEncode, decode: coreDecode };

/**
 * How long after an impairment ends a failure of the member's old incarnation still counts
 * as caused by it: a suspicion raised just before the end can run its full no-confirmation
 * timeout (suspicionMaxMult × suspicionMin(n)) at a node the refutation has not reached yet,
 * plus a few probe periods for the refutation to spread.
 */
export function defaultFailureGraceMs(config: ShoalConfig, n: number): number {
  const min = config.suspicionMult * Math.max(1, Math.log10(Math.max(1, n))) * config.probeIntervalMs;
  return config.suspicionMaxMult * min + 5 * config.probeIntervalMs;
}

export class SimCluster {
  readonly seed: number;
  readonly config: ShoalConfig;
  readonly clock = new ManualClock(0);
  readonly network: ResolvedNetworkOptions;
  /** Every member event, in order (empty when recordEvents is false). */
  readonly events: LoggedEvent[] = [];
  /** Messages dropped, by reason. */
  readonly drops: Record<DropReason, number> = newDropCounts();
  /** Encoded messages (other than push-pull) larger than config.maxMessageBytes, by type. */
  readonly oversize: Partial<Record<MessageType, number>> = {};
  /** Things that should not happen in a correct run (codec errors, leave timeouts …), as text. */
  readonly anomalies: string[] = [];
  anomalyCount = 0;
  /** Invariant violations seen so far (each is also thrown where it happens). */
  readonly violations: InvariantViolation[] = [];

  private readonly root: SeededRandom;
  private readonly netRandom: SeededRandom;
  private readonly scriptRandom: SeededRandom;
  private readonly rules: LinkRules;
  private readonly queue = new EventQueue<Item>();
  private readonly slots = new Map<string, Slot>();
  private readonly order: Slot[] = [];
  private readonly byAddress = new Map<string, Slot>();
  private readonly listeners: EventListener[] = [];
  private readonly messageListeners: MessageListener[] = [];
  private readonly trace = new TraceHash();
  private readonly seedCount: number;
  private readonly recordEvents: boolean;
  private readonly nodeFactory: NodeFactory;
  private readonly maxTicksPerInstant: number;
  private readonly maxAnomalies: number;
  private readonly lastOnLink = new Map<string, number>();
  private readonly failureGraceOverride: number | undefined;
  private eventSeq = 0;
  private running = false;
  /** Calls into nodes so far (receive + tick + start/join/leave/setTags). */
  nodeCalls = 0;

  constructor(opts: SimClusterOptions) {
    if (!Number.isInteger(opts.seed) || opts.seed < 0 || opts.seed > 0xffffffff)
      throw new SimConfigError('seed', 'must be an integer in [0, 2^32)', opts.seed);
    this.seed = opts.seed;
    this.config = resolveConfig(opts.preset ?? 'lan', opts.config ?? {});
    this.network = resolveNetworkOptions(opts.network ?? {}, DEFAULT_CODEC);
    this.root = new SeededRandom(opts.seed);
    this.netRandom = this.root.fork();
    this.scriptRandom = this.root.fork();
    this.rules = new LinkRules(this.network.loss);
    this.seedCount = opts.seeds ?? 1;
    if (!Number.isInteger(this.seedCount) || this.seedCount < 1) throw new SimConfigError('seeds', 'must be an integer >= 1', opts.seeds);
    this.recordEvents = opts.recordEvents ?? true;
    this.nodeFactory = opts.nodeFactory ?? ((o) => new SwimNode(o));
    this.maxTicksPerInstant = opts.maxTicksPerInstant ?? 10_000;
    this.maxAnomalies = opts.maxAnomalies ?? 100;
    if (opts.failureGraceMs !== undefined && !(opts.failureGraceMs >= 0))
      throw new SimConfigError('failureGraceMs', 'must be a number >= 0', opts.failureGraceMs);
    this.failureGraceOverride = opts.failureGraceMs;
    const size = opts.size ?? 0;
    if (!Number.isInteger(size) || size < 0) throw new SimConfigError('size', 'must be an integer >= 0', size);
    for (let i = 0; i < size; i++) this.addNode();
    if (opts.checkIncarnations ?? true) this.onEvent(incarnationCheck());
    if (opts.checkFalseFailures ?? true) this.onEvent(falseFailureCheck());
  }

  // ─── time ─────────────────────────────────────────────────────────────────────────

  get now(): number {
    return this.clock.now();
  }

  /** Protocol rounds elapsed (simulated time / probe interval). */
  get rounds(): number {
    return this.now / this.config.probeIntervalMs;
  }

  /** Runs every queued entry due within the next `ms` simulated milliseconds; the clock ends at now + ms. */
  runFor(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new SimConfigError('runFor', 'must be a finite number >= 0', ms);
    this.runTo(this.now + ms);
  }

  /**
   * Runs until `predicate` holds, checking it every `checkEveryMs` simulated ms (default 100),
   * for at most `deadlineMs`. Returns whether it held; the clock stops at the first check
   * that succeeds.
   */
  runUntil(predicate: (cluster: SimCluster) => boolean, deadlineMs: number, checkEveryMs = 100): boolean {
    if (!(checkEveryMs > 0)) throw new SimConfigError('checkEveryMs', 'must be > 0', checkEveryMs);
    if (predicate(this)) return true;
    const end = this.now + deadlineMs;
    while (this.now < end) {
      this.runTo(Math.min(end, this.now + checkEveryMs));
      if (predicate(this)) return true;
    }
    return false;
  }

  /** Runs `fn` at simulated time `time` (a scripted fault, a check …). */
  at(time: number, fn: () => void): void {
    this.queue.push(Math.max(time, this.now), { kind: 'call', fn });
  }

  after(ms: number, fn: () => void): void {
    this.at(this.now + ms, fn);
  }

  private runTo(end: number): void {
    if (this.running) throw new SimError(this.seed, 'runFor/runUntil called from inside the event loop');
    this.running = true;
    try {
      for (;;) {
        const top = this.queue.peek();
        if (!top || top.time > end) break;
        this.queue.pop();
        if (top.time > this.clock.now()) this.clock.set(top.time);
        const item = top.item;
        if (item.kind === 'deliver') this.deliver(item);
        else if (item.kind === 'wake') this.wake(item);
        else item.fn();
      }
      if (end > this.clock.now()) this.clock.set(end);
    } finally {
      this.running = false;
    }
  }

  // ─── nodes ────────────────────────────────────────────────────────────────────────

  /** Adds a node (not started). Ids default to n1, n2 …; addresses are unique "10.x.y.z:7946". */
  addNode(id?: string, tags: Tags = {}): string {
    const index = this.order.length + 1;
    const nodeId = id ?? `n${index}`;
    if (this.slots.has(nodeId)) throw new SimConfigError('id', 'already in the cluster', nodeId);
    const address = `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}:7946`;
    const slot: Slot = {
      id: nodeId,
      address,
      index,
      initialTags: { ...tags },
      node: undefined,
      status: 'created',
      paused: false,
      epoch: 0,
      wakeAt: undefined,
      wakeToken: 0,
      lastTickAt: -1,
      ticksAtInstant: 0,
      pausedQueue: [],
      sent: newTraffic(),
      received: newTraffic(),
      impairments: [],
      open: {},
    };
    slot.node = this.makeNode(slot, slot.initialTags);
    this.slots.set(nodeId, slot);
    this.order.push(slot);
    this.byAddress.set(address, slot);
    // A node added during a partition is on no listed side: it is cut off like any unlisted node.
    if (this.rules.isPartitioned()) this.openImpairment(slot, 'partition');
    return nodeId;
  }

  /** All node ids, in the order added. */
  ids(): string[] {
    return this.order.map((s) => s.id);
  }

  /** Nodes started and neither crashed, leaving nor left (paused ones included). */
  liveIds(): string[] {
    return this.order.filter((s) => s.status === 'running').map((s) => s.id);
  }

  /** Live and not paused. */
  activeIds(): string[] {
    return this.order.filter((s) => s.status === 'running' && !s.paused).map((s) => s.id);
  }

  /** Ids of the join seeds (the first `seeds` nodes added). */
  seedIds(): string[] {
    return this.order.slice(0, this.seedCount).map((s) => s.id);
  }

  status(id: string): NodeStatus {
    return this.slot(id).status;
  }

  isPaused(id: string): boolean {
    return this.slot(id).paused;
  }

  address(id: string): string {
    return this.slot(id).address;
  }

  /** How many times the node was restarted. */
  epoch(id: string): number {
    return this.slot(id).epoch;
  }

  /** The node object (its current life). */
  node(id: string): SimulatedNode {
    const n = this.slot(id).node;
    if (!n) throw new SimError(this.seed, `node ${id} has no instance`);
    return n;
  }

  /** The observer's member table, sorted by id (a crashed node's table is frozen at its crash). */
  view(observerId: string): Member[] {
    return this.node(observerId)
      .members()
      .slice()
      .sort((a, b) => compareIds(a.id, b.id));
  }

  /**
   * Starts every node not started yet. The seeds start without joining anyone else; every
   * other node joins through the seeds' addresses. With `spreadMs`, each node starts at a
   * uniformly random time within the next `spreadMs` ms instead of now.
   */
  startAll(opts: { spreadMs?: number } = {}): void {
    const spread = opts.spreadMs ?? 0;
    for (const s of this.order) {
      if (s.status !== 'created') continue;
      if (spread > 0) this.after(this.scriptRandom.next() * spread, () => this.start(s.id));
      else this.start(s.id);
    }
  }

  /** Starts one node and joins it through `via` (addresses), by default through the live seeds. */
  start(id: string, via?: readonly string[]): void {
    const s = this.slot(id);
    if (s.status !== 'created') throw new SimError(this.seed, `start(${id}): node is ${s.status}`);
    s.status = 'running';
    this.call(s, (n) => n.start());
    this.call(s, (n) => n.join(via ?? this.joinAddresses(s)));
  }

  /** Changes a node's tags (the node spreads them with incarnation + 1). */
  setTags(id: string, tags: Tags): void {
    const s = this.liveSlot(id, 'setTags');
    this.call(s, (n) => n.setTags(tags));
  }

  /** Starts a graceful leave; the node is stopped once its leave has spread (leaveDone). */
  leave(id: string): void {
    const s = this.liveSlot(id, 'leave');
    s.status = 'leaving';
    this.call(s, (n) => n.leave());
    const epoch = s.epoch;
    // Safety net: the node's own leave timeout should have ended it by then.
    this.after(this.config.leaveTimeoutMs + 1, () => {
      if (s.status !== 'leaving' || s.epoch !== epoch) return;
      if (!s.node!.leaveDone()) this.anomaly(`node ${id}: leaveDone() still false ${this.config.leaveTimeoutMs + 1} ms after leave()`);
      this.finishLeave(s);
    });
  }

  /** The process dies: it stops ticking and everything sent to it is dropped. */
  crash(id: string): void {
    const s = this.slot(id);
    if (s.status !== 'running' && s.status !== 'leaving') throw new SimError(this.seed, `crash(${id}): node is ${s.status}`);
    const incarnation = s.node!.self().incarnation;
    s.status = 'crashed';
    s.paused = false;
    this.closeImpairment(s, 'pause');
    s.pausedQueue = [];
    s.node!.stop();
    s.wakeToken++;
    s.wakeAt = undefined;
    const w: Impairment = { kind: 'crash', from: this.now, incarnationAtEnd: incarnation };
    s.impairments.push(w);
    s.open.crash = w;
  }

  /**
   * A crashed (or left) node comes back as a fresh SwimNode with the same id and address and
   * joins through the live seeds (or any live node when no seed is up).
   */
  restart(id: string, opts: { tags?: Tags; incarnation?: number; via?: readonly string[] } = {}): void {
    const s = this.slot(id);
    if (s.status !== 'crashed' && s.status !== 'left') throw new SimError(this.seed, `restart(${id}): node is ${s.status}`);
    const w = s.open.crash;
    if (w) {
      w.to = this.now;
      delete s.open.crash;
    }
    s.epoch++;
    s.node = this.makeNode(s, opts.tags ?? s.initialTags, opts.incarnation);
    s.status = 'running';
    s.lastTickAt = -1;
    s.ticksAtInstant = 0;
    this.call(s, (n) => n.start());
    this.call(s, (n) => n.join(opts.via ?? this.joinAddresses(s)));
  }

  /** SIGSTOP: the node neither ticks nor receives; messages to it wait in a bounded buffer. */
  pause(id: string): void {
    const s = this.liveSlot(id, 'pause', true);
    if (s.paused) return;
    s.paused = true;
    s.wakeToken++;
    s.wakeAt = undefined;
    this.openImpairment(s, 'pause');
  }

  /** SIGCONT: buffered messages are delivered first (in arrival order), then overdue timers fire. */
  resume(id: string): void {
    const s = this.slot(id);
    if (!s.paused) return;
    s.paused = false;
    this.closeImpairment(s, 'pause');
    const buffered = s.pausedQueue;
    s.pausedQueue = [];
    for (const d of buffered) this.queue.push(this.now, { ...d, buffered: true });
    this.reschedule(s);
  }

  // ─── network faults ───────────────────────────────────────────────────────────────

  /** Cuts the cluster into groups: messages between groups are dropped (in flight too). Unlisted nodes form one more group. */
  partition(...groups: (readonly string[])[]): void {
    for (const g of groups) for (const id of g) this.slot(id);
    this.rules.partition(groups);
    this.refreshLinkImpairments();
  }

  /** Ends the partition and unblocks every link (loss settings stay). */
  heal(): void {
    this.rules.heal();
    this.refreshLinkImpairments();
  }

  /** Drops every message from → to (and to → from unless oneWay). */
  block(from: string, to: string, oneWay = false): void {
    this.slot(from);
    this.slot(to);
    this.rules.block(from, to);
    if (!oneWay) this.rules.block(to, from);
    this.refreshLinkImpairments();
  }

  unblock(from: string, to: string, oneWay = false): void {
    this.rules.unblock(from, to);
    if (!oneWay) this.rules.unblock(to, from);
    this.refreshLinkImpairments();
  }

  /** Global loss probability for every message. */
  setLoss(p: number): void {
    this.rules.loss = checkProbability('loss', p);
  }

  /** Extra loss on one link (both directions unless oneWay), independent of the global loss. */
  setLinkLoss(from: string, to: string, p: number, oneWay = false): void {
    this.rules.setLinkLoss(from, to, p);
    if (!oneWay) this.rules.setLinkLoss(to, from, p);
  }

  /** The group a node is in under the current partition (undefined when there is none). */
  groupOf(id: string): number | undefined {
    return this.rules.groupOf(id);
  }

  // ─── events, invariants, counters ─────────────────────────────────────────────────

  /** Calls `listener` on every member event from now on; returns an unsubscribe function. */
  onEvent(listener: EventListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /**
   * Calls `listener` for every message from now on, when it is delivered or dropped (with the
   * reason). For debugging a scenario: it costs a decode per dropped message while set.
   */
  onMessage(listener: MessageListener): () => void {
    this.messageListeners.push(listener);
    return () => {
      const i = this.messageListeners.indexOf(listener);
      if (i >= 0) this.messageListeners.splice(i, 1);
    };
  }

  /** 16 hex digits over every member event so far (time, observer, type, member, incarnation, state, tags). */
  traceHash(): string {
    return this.trace.digest();
  }

  /** Member events so far (counted even when not recorded). */
  get eventCount(): number {
    return this.trace.count;
  }

  /** Windows in which the member may legitimately be marked failed. */
  impairmentsOf(id: string): readonly Impairment[] {
    return this.slot(id).impairments;
  }

  /**
   * Declares a window in which failures of `member` (seen by `observer`, or by anyone) are
   * expected, for faults the simulator cannot see (e.g. a deliberately overloaded node).
   */
  allowFailures(member: string, from: number, to?: number, observer?: string): void {
    this.slot(member).impairments.push({ kind: 'declared', from, to, incarnationAtEnd: to === undefined ? undefined : Infinity, observer });
  }

  /** Grace after an impairment ends (see defaultFailureGraceMs). */
  failureGraceMs(): number {
    return this.failureGraceOverride ?? defaultFailureGraceMs(this.config, Math.max(1, this.order.length));
  }

  /**
   * Whether a `failed` event about `memberId` at `incarnation`, seen by `observerId` at `time`,
   * is explained by a fault: the member (or the observer) is or was impaired, and, after the
   * impairment ended, only for its old incarnations and within the grace period.
   */
  failureExcused(memberId: string, observerId: string, incarnation: number, time: number): boolean {
    const grace = this.failureGraceMs();
    const m = this.slots.get(memberId);
    if (!m || m.status === 'leaving' || m.status === 'left' || m.status === 'created') return true;
    for (const w of m.impairments) {
      if (w.observer !== undefined && w.observer !== observerId) continue;
      if (time < w.from) continue;
      if (w.to === undefined) return true;
      if (w.kind === 'declared') {
        if (time <= w.to) return true;
        continue;
      }
      if (time <= w.to + grace && incarnation <= (w.incarnationAtEnd ?? Infinity)) return true;
    }
    const o = this.slots.get(observerId);
    if (o) {
      for (const w of o.impairments) {
        if (w.kind === 'declared' || time < w.from) continue;
        if (w.to === undefined || time <= w.to + grace) return true;
      }
    }
    return false;
  }

  /** Records and throws an invariant violation (with the seed). */
  violation(invariant: string, detail: string): never {
    const v = new InvariantViolation(this.seed, invariant, detail);
    this.violations.push(v);
    throw v;
  }

  /** Messages and bytes one node sent and received (cumulative over its restarts). */
  traffic(id: string): NodeTraffic {
    const s = this.slot(id);
    return { sent: cloneTraffic(s.sent), received: cloneTraffic(s.received) };
  }

  /** Sum over all nodes. */
  totalTraffic(): NodeTraffic {
    const sent = newTraffic();
    const received = newTraffic();
    for (const s of this.order) {
      accumulate(sent, s.sent);
      accumulate(received, s.received);
    }
    return { sent, received };
  }

  /** Entries waiting in the event queue (deliveries, wake-ups, scripted calls; stale wake-ups included). */
  get pending(): number {
    return this.queue.size;
  }

  // ─── internals ────────────────────────────────────────────────────────────────────

  private makeNode(s: Slot, tags: Tags, incarnation?: number): SimulatedNode {
    const opts: SwimNodeOptions = { id: s.id, address: s.address, tags, config: this.config, clock: this.clock, random: this.root.fork() };
    if (incarnation !== undefined) opts.incarnation = incarnation;
    return this.nodeFactory(opts);
  }

  private slot(id: string): Slot {
    const s = this.slots.get(id);
    if (!s) throw new SimError(this.seed, `no node ${id}`);
    return s;
  }

  private liveSlot(id: string, what: string, allowPaused = false): Slot {
    const s = this.slot(id);
    if (s.status !== 'running') throw new SimError(this.seed, `${what}(${id}): node is ${s.status}`);
    if (s.paused && !allowPaused) throw new SimError(this.seed, `${what}(${id}): node is paused`);
    return s;
  }

  private joinAddresses(self: Slot): string[] {
    const seeds = this.order.slice(0, this.seedCount).filter((s) => s !== self && s.status === 'running');
    if (seeds.length || this.order.slice(0, this.seedCount).includes(self)) {
      // A seed joins the other live seeds (none: it starts the cluster).
      return seeds.map((s) => s.address);
    }
    const any = this.order.find((s) => s !== self && s.status === 'running');
    return any ? [any.address] : [];
  }

  /** One call into a node: effects carried out, wake-up rescheduled, a finished leave ended. */
  private call(s: Slot, fn: (n: SimulatedNode) => Effect[], what = 'call'): void {
    const node = s.node!;
    let effects: Effect[];
    this.nodeCalls++;
    try {
      effects = fn(node);
    } catch (e) {
      if (e instanceof SimError || e instanceof RangeError) throw e;
      throw new SimError(this.seed, `node ${s.id} threw during ${what} at t=${this.now}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
    for (const eff of effects) {
      if (eff.kind === 'send') this.send(s, eff.to, eff.message);
      else this.logEvent(s, eff.event);
    }
    if (s.status === 'leaving' && node.leaveDone()) this.finishLeave(s);
    else this.reschedule(s);
  }

  private finishLeave(s: Slot): void {
    s.node!.stop();
    s.status = 'left';
    s.wakeToken++;
    s.wakeAt = undefined;
    s.paused = false;
    s.pausedQueue = [];
  }

  private reschedule(s: Slot): void {
    if (s.status !== 'running' && s.status !== 'leaving') return;
    if (s.paused) return;
    const w = s.node!.nextWakeAt();
    if (w === undefined) {
      if (s.wakeAt !== undefined) {
        s.wakeToken++;
        s.wakeAt = undefined;
      }
      return;
    }
    const t = Math.max(w, this.now);
    if (s.wakeAt === t) return;
    s.wakeToken++;
    s.wakeAt = t;
    this.queue.push(t, { kind: 'wake', slot: s, token: s.wakeToken });
  }

  private wake(w: Wake): void {
    const s = w.slot;
    if (w.token !== s.wakeToken) return;
    s.wakeAt = undefined;
    if ((s.status !== 'running' && s.status !== 'leaving') || s.paused) return;
    const now = this.now;
    if (s.lastTickAt === now) {
      if (++s.ticksAtInstant > this.maxTicksPerInstant)
        throw new SimError(this.seed, `node ${s.id} is stuck: nextWakeAt() stays at t=${now} after ${this.maxTicksPerInstant} ticks`);
    } else {
      s.lastTickAt = now;
      s.ticksAtInstant = 0;
    }
    this.call(s, (n) => n.tick(), 'tick');
  }

  private send(from: Slot, to: string, message: Message): void {
    const codec = this.network.codec;
    let bytes: Uint8Array | undefined;
    let size = 0;
    if (codec) {
      try {
        bytes = codec.encode(message);
      } catch (e) {
        this.drops['codec-error']++;
        this.anomaly(`node ${from.id}: encode failed for a ${message.type} to ${to}: ${(e as Error)?.message ?? String(e)}`);
        return;
      }
      size = bytes.length;
      if (size > this.config.maxMessageBytes && message.type !== 'push-pull') {
        this.oversize[message.type] = (this.oversize[message.type] ?? 0) + 1;
      }
    }
    addTraffic(from.sent, message.type, size);
    const target = this.byAddress.get(to);
    if (!target) {
      this.drop('unknown-address', from.id, to, message, size);
      return;
    }
    const cut = this.rules.cut(from.id, target.id);
    if (cut) {
      this.drop(cut, from.id, target.id, message, size);
      return;
    }
    if (this.rules.lost(from.id, target.id, this.netRandom)) {
      this.drop('loss', from.id, target.id, message, size);
      return;
    }
    const { minLatencyMs: lo, maxLatencyMs: hi } = this.network;
    let t = this.now + lo + (hi > lo ? this.netRandom.next() * (hi - lo) : 0);
    if (this.network.ordered) {
      const key = `${from.id}\u0000${target.id}`;
      t = Math.max(t, this.lastOnLink.get(key) ?? 0);
      this.lastOnLink.set(key, t);
    }
    this.queue.push(t, {
      kind: 'deliver',
      to: target,
      from: from.id,
      type: message.type,
      size,
      bytes,
      message: codec ? undefined : message,
      buffered: false,
    });
  }

  private deliver(d: Delivery): void {
    const s = d.to;
    if (s.status === 'crashed') {
      this.dropDelivery('crashed', d);
      return;
    }
    if (s.status !== 'running' && s.status !== 'leaving') {
      this.dropDelivery('stopped', d);
      return;
    }
    if (!d.buffered) {
      const cut = this.rules.cut(d.from, s.id);
      if (cut) {
        this.dropDelivery(cut, d);
        return;
      }
    }
    if (s.paused) {
      if (s.pausedQueue.length >= this.network.pausedQueueLimit) this.dropDelivery('paused-overflow', d);
      else s.pausedQueue.push(d);
      return;
    }
    let message = d.message;
    if (d.bytes) {
      try {
        message = this.network.codec!.decode(d.bytes);
      } catch (e) {
        this.drops['codec-error']++;
        this.anomaly(`node ${s.id}: decode failed for a ${d.type} from ${d.from}: ${(e as Error)?.message ?? String(e)}`);
        return;
      }
    }
    addTraffic(s.received, d.type, d.size);
    const m = message!;
    if (this.messageListeners.length) this.notifyMessage(d.from, s.id, m, d.size, 'delivered');
    this.call(s, (n) => n.receive(m), `receive(${d.type} from ${d.from})`);
  }

  private drop(reason: DropReason, from: string, to: string, message: Message, size: number): void {
    this.drops[reason]++;
    if (this.messageListeners.length) this.notifyMessage(from, to, message, size, reason);
  }

  private dropDelivery(reason: DropReason, d: Delivery): void {
    this.drops[reason]++;
    if (!this.messageListeners.length) return;
    let m = d.message;
    if (!m && d.bytes) {
      try {
        m = this.network.codec!.decode(d.bytes);
      } catch {
        return;
      }
    }
    if (m) this.notifyMessage(d.from, d.to.id, m, d.size, reason);
  }

  private notifyMessage(from: string, to: string, message: Message, size: number, outcome: MessageOutcome): void {
    const record: MessageRecord = { time: this.now, from, to, message, size, outcome };
    for (const l of this.messageListeners) l(record, this);
  }

  private logEvent(s: Slot, event: MemberEvent): void {
    const e: LoggedEvent = { seq: this.eventSeq++, time: this.now, observer: s.id, observerEpoch: s.epoch, event };
    const m = event.member;
    const tags = event.type === 'updated' || event.type === 'joined' ? JSON.stringify(m.tags) : '';
    this.trace.update(`${e.time}|${s.id}|${s.epoch}|${event.type}|${m.id}|${m.incarnation}|${m.state}|${tags}`);
    if (this.recordEvents) this.events.push(e);
    for (const l of this.listeners) l(e, this);
  }

  private anomaly(text: string): void {
    this.anomalyCount++;
    if (this.anomalies.length < this.maxAnomalies) this.anomalies.push(`t=${this.now}: ${text}`);
  }

  private openImpairment(s: Slot, kind: ImpairmentKind): void {
    if (s.open[kind]) return;
    const w: Impairment = { kind, from: this.now };
    s.impairments.push(w);
    s.open[kind] = w;
  }

  private closeImpairment(s: Slot, kind: ImpairmentKind): void {
    const w = s.open[kind];
    if (!w) return;
    w.to = this.now;
    w.incarnationAtEnd = s.node ? s.node.self().incarnation : undefined;
    delete s.open[kind];
  }

  /**
   * A partition impairs every node (after it heals, "failed" news from the other side reaches
   * nodes on both sides); a blocked link impairs both of its ends.
   */
  private refreshLinkImpairments(): void {
    const partitioned = this.rules.isPartitioned();
    for (const s of this.order) {
      if (partitioned) this.openImpairment(s, 'partition');
      else this.closeImpairment(s, 'partition');
      let blocked = false;
      if (this.rules.hasBlocks()) {
        for (const o of this.order) {
          if (o !== s && (this.rules.isBlocked(s.id, o.id) || this.rules.isBlocked(o.id, s.id))) {
            blocked = true;
            break;
          }
        }
      }
      if (blocked) this.openImpairment(s, 'blocked');
      else this.closeImpairment(s, 'blocked');
    }
  }
}

function accumulate(into: TrafficCounters, c: TrafficCounters): void {
  into.messages += c.messages;
  into.bytes += c.bytes;
  for (const [t, v] of Object.entries(c.byType) as [MessageType, { messages: number; bytes: number }][]) {
    into.byType[t].messages += v.messages;
    into.byType[t].bytes += v.bytes;
  }
}

/** Orders "n2" before "n10". */
export function compareIds(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
