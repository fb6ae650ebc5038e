/**
 * The node runtime: runs the pure protocol core (SwimNode) with real timers over the QUIC
 * endpoint and the bounded connection pool.
 *
 *   core effects ─send─▶ encode ─▶ pool.acquire(address) ─▶ PeerConnection.send(frame)
 *   PeerConnection 'message' ─▶ decode (malformed: dropped + counted) ─▶ core.receive()
 *   one real timer, always armed for core.nextWakeAt()
 *
 * Replies go back on whatever connection to that address is open, inbound ones included,
 * so a probe exchange between two nodes uses one connection, not two.
 *
 * Dead and restarted peers: QUIC notices a dead peer only at its idle timeout, and writes
 * to it only buffer, so the runtime lets SWIM decide. When our direct probe of a member
 * times out (the core asks helpers with ping-req), the pool's connections to its address
 * that heard nothing since that ping are closed; when the core reports a member suspect,
 * so are those silent since our last ping to it (if that is a probe timeout old); when
 * it reports one failed, all are. The next send then dials afresh, so a peer restarted on
 * the same address gets a new connection. Sends that wait for a connection are held per
 * peer, bounded (`maxPendingSendsPerPeer`, `maxPendingSends`), and settle within the
 * pool's acquire and dial timeouts; a peer backing off after failed dials fails them at once.
 *
 * Crossing dials: when two nodes dial each other at once, both keep the connection dialed
 * by the node with the smaller id (the pool's 'prefer-inbound' / 'keep-outbound' inbound
 * policies); otherwise each side would replace its own with the other's and both be lost.
 *
 * Identity: the sender id and address inside a message (ack excepted: a helper relays the
 * target's ack) must be the ones the connection's certificate and hello proved; other
 * messages are dropped and counted (`spoofed`).
 */
import { EventEmitter } from 'node:events';
import {
  decode,
  DecodeError,
  encode,
  resolveCodecLimits,
  resolveConfig,
  SwimNode,
  type Clock,
  type CodecLimits,
  type Effect,
  type Member,
  type MemberEvent,
  type MemberQuery,
  type Message,
  type PresetName,
  type Random,
  type ShoalConfig,
  type SwimStats,
  type Tags,
} from '@shoal/core';
import type { Logger } from 'pino';
import {
  ConnectionPool,
  DialFailed as PoolDialFailed,
  DialTimeout as PoolDialTimeout,
  PeerUnreachable,
  PoolClosed,
  PoolExhausted,
  type ConnectionPoolOptions,
  type PoolStats,
} from './connection-pool.js';
import { DeadlineTimer, preciseClock } from './deadline-timer.js';
import { InvalidOptionError } from './errors.js';
import { QuicEndpoint, type EndpointFaults, type QuicEndpointOptions } from './quic-endpoint.js';
import type { PeerConnection, PeerDirection } from './peer-connection.js';

/** Default of `maxPendingSendsPerPeer`. */
export const DEFAULT_MAX_PENDING_SENDS_PER_PEER = 64;
/** Default of `maxPendingSends`. */
export const DEFAULT_MAX_PENDING_SENDS = 1024;
/** How many peer addresses the runtime remembers its last ping time for (oldest forgotten first). */
const MAX_PING_TRACKED = 4096;
/** Peer addresses whose last message time is kept (oldest dropped first). */
const MAX_HEARD_TRACKED = 4096;

export interface NodeRuntimeOptions {
  id: string;
  cluster: string;
  bindHost?: string;
  bindPort?: number;
  advertise?: string;
  seeds?: readonly string[];
  tags?: Tags;
  preset?: PresetName;
  config?: Partial<ShoalConfig>;
  tls: { caPem: string; certPem: string; keyPem: string };
  pool?: Omit<ConnectionPoolOptions<PeerConnection>, 'dial'>;
  /**
   * Most messages held for one peer while its connection is being dialed; more are dropped
   * and counted (`sendFailuresBy.queueFull`). Integer 1..100000. Default 64.
   */
  maxPendingSendsPerPeer?: number;
  /** Most messages held over all peers while connections are being dialed. Integer 1..1000000. Default 1024. */
  maxPendingSends?: number;
  endpoint?: Partial<Omit<QuicEndpointOptions, 'nodeId' | 'cluster' | 'bindHost' | 'bindPort' | 'advertise' | 'tls' | 'logger' | 'clock'>>;
  logger?: Logger;
  /** Injected for tests; default preciseClock() (epoch ms, sub-ms resolution) and Math.random. */
  clock?: Clock;
  random?: Random;
}

export interface RuntimeCounters {
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Frames that did not decode as a protocol message (dropped). */
  malformed: number;
  /** Sends that failed (pool exhausted, dial failed, peer unreachable …). */
  sendFailures: number;
  /** sendFailures by cause. */
  sendFailuresBy: SendFailureCounts;
  /** Messages whose sender id or address is not the one the connection proved (dropped). */
  spoofed: number;
  /** Acks that came through a helper (ping-req), not from the probed member's own connection. */
  indirectAcks: number;
  /** Connections closed because a probe timed out or the member was reported suspect or failed. */
  peerCloses: number;
  /** Peers whose kept datagram keys were dropped for the same reasons (the next message dials and re-keys). */
  datagramKeysForgotten: number;
  /** Messages now held while their connection is being dialed. */
  pendingSends: number;
  /** Longest time (ms) a message waited for its connection, since start. */
  maxSendWaitMs: number;
}

export interface SendFailureCounts {
  /** The peer was backing off after failed dials (failed at once). */
  unreachable: number;
  dialTimeout: number;
  dialFailed: number;
  /** No pool slot freed up within the acquire timeout. */
  exhausted: number;
  /** Over maxPendingSendsPerPeer / maxPendingSends. */
  queueFull: number;
  /** The message did not encode (over maxFrameBytes …). */
  encode: number;
  other: number;
}

/** A dial the runtime made (event 'dial'). */
export interface DialEvent {
  /** Advertised "host:port" dialed. */
  peer: string;
  ok: boolean;
  /** Time the dial took. */
  ms: number;
  /** Error name and message when it failed. */
  error?: string;
}

/** One admitted connection of the node (see connections()). */
export interface ConnectionInfo {
  peerId: string;
  peerAddress: string;
  direction: PeerDirection;
}

export interface NodeRuntimeStats {
  swim: SwimStats;
  pool: PoolStats;
  endpoint: ReturnType<QuicEndpoint['stats']>;
  runtime: RuntimeCounters;
  queuedBroadcasts: number;
  healthScore: number;
}

/** Member events held for the first 'member' listener (see emitMember). */
const EARLY_EVENTS_MAX = 256;

const mathRandom: Random = { next: () => Math.random() };

export interface NodeRuntimeEvents {
  member: [MemberEvent];
  error: [Error];
  dial: [DialEvent];
}

interface PendingPeer {
  readonly frames: Uint8Array[];
  readonly since: number;
}

function intOption(key: string, v: unknown, def: number, min: number, max: number): number {
  const x = v === undefined ? def : v;
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) throw new InvalidOptionError(key, `must be an integer in [${min}, ${max}]`);
  return x;
}

/** Validates the runtime's own options (the endpoint, pool and core validate theirs). */
export function resolveRuntimeLimits(opts: Pick<NodeRuntimeOptions, 'maxPendingSendsPerPeer' | 'maxPendingSends'>): {
  maxPendingSendsPerPeer: number;
  maxPendingSends: number;
} {
  return {
    maxPendingSendsPerPeer: intOption('maxPendingSendsPerPeer', opts.maxPendingSendsPerPeer, DEFAULT_MAX_PENDING_SENDS_PER_PEER, 1, 100_000),
    maxPendingSends: intOption('maxPendingSends', opts.maxPendingSends, DEFAULT_MAX_PENDING_SENDS, 1, 1_000_000),
  };
}

export class NodeRuntime extends EventEmitter<NodeRuntimeEvents> {
  readonly id: string;
  readonly cluster: string;
  readonly config: ShoalConfig;
  private readonly core: SwimNode;
  private readonly pool: ConnectionPool<PeerConnection>;
  private readonly timer: DeadlineTimer;
  private state: 'running' | 'stopping' | 'stopped' = 'running';
  private stopPromise: Promise<void> | undefined;
  private readonly counters: Omit<RuntimeCounters, 'pendingSends' | 'sendFailuresBy'> = {
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    malformed: 0,
    sendFailures: 0,
    spoofed: 0,
    indirectAcks: 0,
    peerCloses: 0,
    datagramKeysForgotten: 0,
    maxSendWaitMs: 0,
  };
  private readonly failuresBy: SendFailureCounts = { unreachable: 0, dialTimeout: 0, dialFailed: 0, exhausted: 0, queueFull: 0, encode: 0, other: 0 };
  private readonly log: Logger | undefined;
  private readonly seeds: readonly string[];
  private readonly clock: Clock;
  private readonly limits: ReturnType<typeof resolveRuntimeLimits>;
  /** The codec's limits for this node's frames, resolved once (resolving on every message cost ~0.3 ms cold). */
  private readonly codecLimits: Readonly<CodecLimits>;
  /** Messages waiting for a connection, per peer address. */
  private readonly pendingSends = new Map<string, PendingPeer>();
  private pendingTotal = 0;
  /** Time of the last frame received on each connection. */
  private readonly lastHeard = new WeakMap<PeerConnection, number>();
  /** Time of the last message from each peer address, on any path (insertion order = oldest first). */
  private readonly heardFrom = new Map<string, number>();
  /** Time of our last ping to each address (insertion order = oldest first). */
  private readonly lastPing = new Map<string, number>();

  private constructor(
    private readonly endpoint: QuicEndpoint,
    opts: NodeRuntimeOptions,
    clock: Clock,
  ) {
    super();
    this.watchFirstListener();
    this.id = opts.id;
    this.cluster = opts.cluster;
    this.config = resolveConfig(opts.preset ?? 'lan', opts.config ?? {});
    this.log = opts.logger;
    this.seeds = opts.seeds ?? [];
    this.limits = resolveRuntimeLimits(opts);
    this.codecLimits = resolveCodecLimits({ maxMessageBytes: endpoint.maxFrameBytes });
    this.clock = clock;
    this.timer = new DeadlineTimer(this.clock, () => this.run(() => this.core.tick()));
    this.core = new SwimNode({
      id: opts.id,
      address: endpoint.address,
      tags: opts.tags,
      config: this.config,
      clock: this.clock,
      random: opts.random ?? mathRandom,
    });
    this.pool = new ConnectionPool<PeerConnection>({
      ...opts.pool,
      dial: (peer, signal) => this.dial(peer, signal),
    });
    endpoint.on('connection', (conn: PeerConnection) => {
      if (this.state !== 'running') {
        void conn.close();
        return;
      }
      this.wire(conn);
      // Two nodes dialing each other at once keep the connection the smaller id dialed.
      const policy = conn.peerId < this.id ? 'prefer-inbound' : 'keep-outbound';
      if (!this.pool.addInbound(conn, policy)) this.log?.debug({ peer: conn.peerAddress, policy }, 'inbound connection refused by the pool');
    });
    // Datagrams from peers whose connection the pool has closed (their keys are kept).
    endpoint.on('datagram', (payload, from, receivedAt) => this.onMessage(payload, from.peerId, from.peerAddress, undefined, receivedAt));
  }

  /** Binds the endpoint, starts the protocol and joins the seeds (in the background, with retries). */
  static async start(opts: NodeRuntimeOptions): Promise<NodeRuntime> {
    resolveRuntimeLimits(opts); // fail before binding
    // One clock for the core and for the endpoint's datagram arrival stamps.
    const clock = opts.clock ?? preciseClock();
    const endpoint = await QuicEndpoint.start({
      ...opts.endpoint,
      nodeId: opts.id,
      cluster: opts.cluster,
      bindHost: opts.bindHost ?? '127.0.0.1',
      bindPort: opts.bindPort ?? 0,
      advertise: opts.advertise,
      tls: opts.tls,
      logger: opts.logger,
      clock,
    });
    let rt: NodeRuntime;
    try {
      rt = new NodeRuntime(endpoint, opts, clock);
    } catch (e) {
      await endpoint.stop();
      throw e;
    }
    rt.run(() => rt.core.start());
    // Hold early events only for whoever subscribes in the same turn as start() resolves;
    // a listener attached later sees only what happens from then on.
    setImmediate(() => {
      if (rt.listenerCount('member') === 0) rt.early = undefined;
    });
    if (rt.seeds.length) rt.run(() => rt.core.join(rt.seeds));
    return rt;
  }

  get address(): string {
    return this.core.address;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  /** Joined through a seed (or had none) and not leaving. */
  isReady(): boolean {
    return this.state === 'running' && this.core.hasJoined() && !this.core.isLeaving();
  }

  self(): Member {
    return this.core.self();
  }

  members(query?: MemberQuery): Member[] {
    return this.core.members(query);
  }

  member(id: string): Member | undefined {
    return this.core.member(id);
  }

  phi(id: string): number {
    return this.core.phi(id);
  }

  healthScore(): number {
    return this.core.healthScore();
  }

  setTags(tags: Tags): void {
    this.run(() => this.core.setTags(tags));
  }

  /** Joins (again) through these seed addresses. */
  join(seeds: readonly string[]): void {
    this.run(() => this.core.join(seeds));
  }

  /** Fault injection of the transport (tests): drop frames to / from an address. */
  get faults(): EndpointFaults {
    return this.endpoint.faults;
  }

  /** The admitted QUIC connections open now (in the pool or about to be refused by it). */
  connections(): ConnectionInfo[] {
    return this.endpoint.connections().map((c) => ({ peerId: c.peerId, peerAddress: c.peerAddress, direction: c.direction }));
  }

  stats(): NodeRuntimeStats {
    return {
      swim: this.core.stats(),
      pool: this.pool.stats(),
      endpoint: this.endpoint.stats(),
      runtime: { ...this.counters, sendFailuresBy: { ...this.failuresBy }, pendingSends: this.pendingTotal },
      queuedBroadcasts: this.core.queuedBroadcasts(),
      healthScore: this.core.healthScore(),
    };
  }

  /** Round-trip times (ms) of successful direct probes since the last call; each is handed over once. */
  takeRttSamples(): number[] {
    return this.core.takeRttSamples();
  }

  /**
   * Announces a graceful leave and resolves once it has spread (sent to leaveMinSends
   * members) or leaveTimeoutMs has passed. The node keeps answering until stop().
   */
  async leave(): Promise<void> {
    if (this.state !== 'running') return;
    this.run(() => this.core.leave());
    const deadline = Date.now() + this.config.leaveTimeoutMs;
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (this.core.leaveDone() || Date.now() >= deadline || this.state !== 'running') return resolve();
        setTimeout(check, 20);
      };
      check();
    });
  }

  /** Idempotent: stops the protocol, closes the pool (every connection) and the endpoint. */
  stop(): Promise<void> {
    if (!this.stopPromise) {
      this.state = 'stopping';
      this.stopPromise = (async () => {
        this.timer.cancel();
        this.core.stop();
        this.pendingSends.clear();
        this.pendingTotal = 0;
        this.lastPing.clear();
        try {
          await this.pool.close();
        } catch (e) {
          this.log?.warn({ err: e }, 'pool close failed');
        }
        await this.endpoint.stop();
        this.state = 'stopped';
      })();
    }
    return this.stopPromise;
  }

  // ─── internals ────────────────────────────────────────────────────────────────────

  private async dial(peer: string, signal: AbortSignal): Promise<PeerConnection> {
    const started = Date.now();
    let conn: PeerConnection;
    try {
      conn = await this.endpoint.dial(peer, { timeoutMs: this.pool.dialTimeoutMs, signal });
    } catch (e) {
      this.emitDial({ peer, ok: false, ms: Date.now() - started, error: `${(e as Error)?.name}: ${(e as Error)?.message}` });
      throw e;
    }
    if (signal.aborted) {
      void conn.close();
      this.emitDial({ peer, ok: false, ms: Date.now() - started, error: 'aborted' });
      throw signal.reason ?? new Error('dial aborted');
    }
    this.wire(conn);
    this.emitDial({ peer, ok: true, ms: Date.now() - started });
    return conn;
  }

  private emitDial(event: DialEvent): void {
    if (this.listenerCount('dial') === 0) return;
    try {
      this.emit('dial', event);
    } catch (e) {
      this.log?.error({ err: e }, "'dial' listener threw");
    }
  }

  private wire(conn: PeerConnection): void {
    conn.on('message', (payload: Uint8Array, receivedAt?: number) => this.onMessage(payload, conn.peerId, conn.peerAddress, conn, receivedAt));
  }

  /**
   * A message from an admitted peer: on its connection `conn`, or a datagram with no
   * connection open; `receivedAt`: when a datagram came off the socket (the core counts
   * probe round trips to it).
   */
  private onMessage(payload: Uint8Array, peerId: string, peerAddress: string, conn: PeerConnection | undefined, receivedAt?: number): void {
    if (this.state !== 'running') return;
    this.counters.bytesIn += payload.byteLength;
    // A datagram was stamped with this clock as it came off the socket: no second read.
    const now = receivedAt ?? this.clock.now();
    if (conn) this.lastHeard.set(conn, now);
    this.heardFrom.delete(peerAddress);
    this.heardFrom.set(peerAddress, now);
    if (this.heardFrom.size > MAX_HEARD_TRACKED) this.heardFrom.delete(this.heardFrom.keys().next().value as string);
    let message: Message;
    try {
      message = decode(payload, this.codecLimits);
    } catch (e) {
      this.counters.malformed++;
      if (!(e instanceof DecodeError)) this.log?.error({ err: e, peer: peerAddress }, 'unexpected decode failure');
      else this.log?.debug({ peer: peerAddress, reason: e.reason }, 'malformed message dropped');
      return;
    }
    if (message.type === 'ack') {
      // A helper relays the target's ack under the target's id and address.
      if (message.from !== peerId) this.counters.indirectAcks++;
    } else if (message.from !== peerId || message.addr !== peerAddress) {
      this.counters.spoofed++;
      this.log?.debug({ peer: peerId, claimed: message.from, addr: message.addr, type: message.type }, 'message with a foreign sender dropped');
      return;
    }
    this.counters.messagesIn++;
    this.run(() => this.core.receive(message, receivedAt));
  }

  /**
   * Member events raised before anyone listens (the node's own `joined` comes out of
   * start(), before a caller can attach) are held, up to EARLY_EVENTS_MAX, and handed to
   * the first 'member' listener on the next microtask — if that listener is attached in the
   * same turn of the event loop as start() resolved; after that they are dropped.
   */
  private emitMember(event: MemberEvent): void {
    if (this.listenerCount('member') > 0) {
      this.emit('member', event);
      return;
    }
    if (!this.early) return;
    if (this.early.length >= EARLY_EVENTS_MAX) this.early.shift();
    this.early.push(event);
  }

  private early: MemberEvent[] | undefined = [];

  private watchFirstListener(): void {
    const onNew = (name: string | symbol): void => {
      if (name !== 'member') return;
      (this as EventEmitter).off('newListener', onNew);
      queueMicrotask(() => {
        const held = this.early ?? [];
        this.early = undefined;
        for (const e of held) this.emit('member', e);
      });
    };
    (this as EventEmitter).on('newListener', onNew);
  }

  /** Calls into the core, carries out its effects and re-arms the timer. Never throws. */
  private run(call: () => Effect[]): void {
    if (this.state !== 'running') return;
    let effects: Effect[];
    try {
      effects = call();
    } catch (e) {
      if (e instanceof RangeError) throw e; // caller errors (tags over the limit) go back to the caller
      this.log?.error({ err: e }, 'protocol core failed');
      this.emit('error', e as Error);
      effects = [];
    }
    for (const effect of effects) {
      if (effect.kind === 'send') {
        this.observeSend(effect.to, effect.message);
        this.send(effect.to, effect.message);
      } else {
        this.observeEvent(effect.event);
        this.emitMember(effect.event);
      }
    }
    this.arm();
  }

  /** Watches our own probes: a ping-req of ours means the direct probe of its target timed out. */
  private observeSend(to: string, message: Message): void {
    if (message.type === 'ping' && message.from === this.id) {
      const now = this.clock.now();
      // Pinging a member we already suspect: if our previous ping is a probe timeout old and
      // nothing came back on a connection since it, that connection is dead. (The suspect
      // event closes it too, but misses it when the peer's last frames crossed our ping.)
      const previous = this.lastPing.get(to);
      if (previous !== undefined && now - previous >= this.config.probeTimeoutMs && this.core.member(message.target)?.state === 'suspect') {
        this.closeSilent(to, previous, 'still-suspect');
      }
      this.lastPing.delete(to);
      this.lastPing.set(to, now);
      if (this.lastPing.size > MAX_PING_TRACKED) this.lastPing.delete(this.lastPing.keys().next().value as string);
    } else if (message.type === 'ping-req' && message.from === this.id) {
      const pingedAt = this.lastPing.get(message.targetAddr);
      if (pingedAt !== undefined) this.closeSilent(message.targetAddr, pingedAt, 'probe-timeout');
    }
  }

  private observeEvent(event: MemberEvent): void {
    const m = event.member;
    if (m.id === this.id) return;
    if (m.state === 'failed') {
      this.closeSilent(m.address, Infinity, 'failed');
      this.lastPing.delete(m.address);
      this.heardFrom.delete(m.address);
    } else if (m.state === 'suspect' && event.previous?.state !== 'suspect') {
      // Only if our own last ping to it went unanswered for a probe timeout: a suspicion
      // gossiped by others says nothing about our connection.
      const pingedAt = this.lastPing.get(m.address);
      if (pingedAt !== undefined && this.clock.now() - pingedAt >= this.config.probeTimeoutMs) this.closeSilent(m.address, pingedAt, 'suspect');
    } else if (m.state === 'left') {
      this.lastPing.delete(m.address);
      this.heardFrom.delete(m.address);
      if (this.endpoint.forgetDatagramPeer(m.address)) this.counters.datagramKeysForgotten++;
    }
  }

  /**
   * Closes the pool's connections to address that heard nothing since `since` (Infinity:
   * all), and drops its kept datagram keys if nothing came from it since, on any path (a
   * peer that restarted lost them: the next message dials it and re-keys).
   */
  private closeSilent(address: string, since: number, why: string): void {
    const closed = this.pool.closePeer(address, (c) => (this.lastHeard.get(c) ?? -Infinity) < since);
    const forgot = (this.heardFrom.get(address) ?? -Infinity) < since && this.endpoint.forgetDatagramPeer(address);
    if (forgot) this.counters.datagramKeysForgotten++;
    if (closed > 0) this.counters.peerCloses += closed;
    if (closed > 0 || forgot) this.log?.debug({ peer: address, closed, forgotKeys: forgot, why }, 'closed connections to an unresponsive peer');
  }

  private send(to: string, message: Message): void {
    let bytes: Uint8Array;
    try {
      bytes = encode(message, this.codecLimits);
    } catch (e) {
      this.fail(1, 'encode');
      this.log?.error({ err: e, to, type: message.type }, 'encode failed');
      return;
    }
    const lease = this.pool.tryAcquire(to);
    if (lease) {
      this.transmit(lease.connection, bytes);
      lease.release();
      return;
    }
    // No open connection, but keys kept from an earlier one: a datagram needs no dial.
    if (this.endpoint.sendDatagram(to, bytes)) {
      this.countOut(bytes);
      return;
    }
    // Wait for a connection: one acquire per peer, its messages held (bounded) meanwhile.
    const held = this.pendingSends.get(to);
    if (held) {
      if (held.frames.length >= this.limits.maxPendingSendsPerPeer || this.pendingTotal >= this.limits.maxPendingSends) {
        this.fail(1, 'queueFull');
        return;
      }
      held.frames.push(bytes);
      this.pendingTotal++;
      return;
    }
    if (this.pendingTotal >= this.limits.maxPendingSends) {
      this.fail(1, 'queueFull');
      return;
    }
    const entry: PendingPeer = { frames: [bytes], since: Date.now() };
    this.pendingSends.set(to, entry);
    this.pendingTotal++;
    this.pool.acquire(to).then(
      (l) => {
        const frames = this.takePending(to, entry);
        if (this.state === 'running') for (const f of frames) this.transmit(l.connection, f);
        l.release();
      },
      (e: Error) => {
        const frames = this.takePending(to, entry);
        if (this.state !== 'running' || e instanceof PoolClosed) return;
        const kind: keyof SendFailureCounts =
          e instanceof PeerUnreachable
            ? 'unreachable'
            : e instanceof PoolDialTimeout
              ? 'dialTimeout'
              : e instanceof PoolDialFailed
                ? 'dialFailed'
                : e instanceof PoolExhausted
                  ? 'exhausted'
                  : 'other';
        this.fail(frames.length, kind);
        this.log?.debug({ to, dropped: frames.length, err: e.message }, 'send failed');
      },
    );
  }

  private takePending(to: string, entry: PendingPeer): Uint8Array[] {
    if (this.pendingSends.get(to) !== entry) return [];
    this.pendingSends.delete(to);
    this.pendingTotal -= entry.frames.length;
    const waited = Date.now() - entry.since;
    if (waited > this.counters.maxSendWaitMs) this.counters.maxSendWaitMs = waited;
    return entry.frames;
  }

  private fail(n: number, kind: keyof SendFailureCounts): void {
    if (n <= 0) return;
    this.counters.sendFailures += n;
    this.failuresBy[kind] += n;
  }

  private arm(): void {
    if (this.state === 'running') this.timer.arm(this.core.nextWakeAt());
  }

  private transmit(conn: PeerConnection, bytes: Uint8Array): void {
    this.countOut(bytes);
    conn.send(bytes);
  }

  /** One message handed to a connection or sent as a datagram without one. */
  private countOut(bytes: Uint8Array): void {
    this.counters.messagesOut++;
    this.counters.bytesOut += bytes.byteLength;
  }
}
