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
 */
import { EventEmitter } from 'node:events';
import {
  decode,
  DecodeError,
  encode,
  resolveConfig,
  SwimNode,
  type Clock,
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
import { ConnectionPool, type ConnectionPoolOptions, type PoolStats } from './connection-pool.js';
import { QuicEndpoint, type QuicEndpointOptions } from './quic-endpoint.js';
import type { PeerConnection } from './peer-connection.js';

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
  endpoint?: Partial<Omit<QuicEndpointOptions, 'nodeId' | 'cluster' | 'bindHost' | 'bindPort' | 'advertise' | 'tls' | 'logger'>>;
  logger?: Logger;
  /** Injected for tests; default real time and Math.random. */
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
}

export interface NodeRuntimeStats {
  swim: SwimStats;
  pool: PoolStats;
  endpoint: ReturnType<QuicEndpoint['stats']>;
  runtime: RuntimeCounters;
  queuedBroadcasts: number;
  healthScore: number;
}

const realClock: Clock = { now: () => Date.now() };
const mathRandom: Random = { next: () => Math.random() };

export interface NodeRuntimeEvents {
  member: [MemberEvent];
  error: [Error];
}

export class NodeRuntime extends EventEmitter<NodeRuntimeEvents> {
  readonly id: string;
  readonly cluster: string;
  readonly config: ShoalConfig;
  private readonly core: SwimNode;
  private readonly pool: ConnectionPool<PeerConnection>;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private state: 'running' | 'stopping' | 'stopped' = 'running';
  private stopPromise: Promise<void> | undefined;
  private readonly counters: RuntimeCounters = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, malformed: 0, sendFailures: 0 };
  private readonly log: Logger | undefined;
  private readonly seeds: readonly string[];

  private constructor(
    private readonly endpoint: QuicEndpoint,
    opts: NodeRuntimeOptions,
  ) {
    super();
    this.id = opts.id;
    this.cluster = opts.cluster;
    this.config = resolveConfig(opts.preset ?? 'lan', opts.config ?? {});
    this.log = opts.logger;
    this.seeds = opts.seeds ?? [];
    this.core = new SwimNode({
      id: opts.id,
      address: endpoint.address,
      tags: opts.tags,
      config: this.config,
      clock: opts.clock ?? realClock,
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
      if (!this.pool.addInbound(conn)) this.log?.warn({ peer: conn.peerAddress }, 'inbound connection refused: pool full');
    });
  }

  /** Binds the endpoint, starts the protocol and joins the seeds (in the background, with retries). */
  static async start(opts: NodeRuntimeOptions): Promise<NodeRuntime> {
    const endpoint = await QuicEndpoint.start({
      ...opts.endpoint,
      nodeId: opts.id,
      cluster: opts.cluster,
      bindHost: opts.bindHost ?? '127.0.0.1',
      bindPort: opts.bindPort ?? 0,
      advertise: opts.advertise,
      tls: opts.tls,
      logger: opts.logger,
    });
    let rt: NodeRuntime;
    try {
      rt = new NodeRuntime(endpoint, opts);
    } catch (e) {
      await endpoint.stop();
      throw e;
    }
    rt.run(() => rt.core.start());
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

  stats(): NodeRuntimeStats {
    return {
      swim: this.core.stats(),
      pool: this.pool.stats(),
      endpoint: this.endpoint.stats(),
      runtime: { ...this.counters },
      queuedBroadcasts: this.core.queuedBroadcasts(),
      healthScore: this.core.healthScore(),
    };
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
        if (this.timer) clearTimeout(this.timer);
        this.timer = undefined;
        this.core.stop();
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
    const conn = await this.endpoint.dial(peer, { timeoutMs: this.pool.dialTimeoutMs });
    if (signal.aborted) {
      void conn.close();
      throw signal.reason ?? new Error('dial aborted');
    }
    this.wire(conn);
    return conn;
  }

  private wire(conn: PeerConnection): void {
    conn.on('message', (payload: Uint8Array) => this.onFrame(payload, conn));
  }

  private onFrame(payload: Uint8Array, conn: PeerConnection): void {
    if (this.state !== 'running') return;
    this.counters.bytesIn += payload.byteLength;
    let message: Message;
    try {
      message = decode(payload, { maxMessageBytes: this.endpoint.maxFrameBytes });
    } catch (e) {
      this.counters.malformed++;
      if (!(e instanceof DecodeError)) this.log?.error({ err: e, peer: conn.peerAddress }, 'unexpected decode failure');
      else this.log?.debug({ peer: conn.peerAddress, reason: e.reason }, 'malformed message dropped');
      return;
    }
    this.counters.messagesIn++;
    this.run(() => this.core.receive(message));
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
      if (effect.kind === 'send') this.send(effect.to, effect.message);
      else this.emit('member', effect.event);
    }
    this.arm();
  }

  private arm(): void {
    if (this.state !== 'running') return;
    const at = this.core.nextWakeAt();
    if (at === undefined) return;
    if (this.timer && at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.run(() => this.core.tick());
    }, Math.max(0, at - Date.now()));
  }

  private send(to: string, message: Message): void {
    let bytes: Uint8Array;
    try {
      bytes = encode(message, { maxMessageBytes: this.endpoint.maxFrameBytes });
    } catch (e) {
      this.counters.sendFailures++;
      this.log?.error({ err: e, to, type: message.type }, 'encode failed');
      return;
    }
    const lease = this.pool.tryAcquire(to);
    if (lease) {
      this.transmit(lease.connection, bytes);
      lease.release();
      return;
    }
    this.pool.acquire(to).then(
      (l) => {
        if (this.state === 'running') this.transmit(l.connection, bytes);
        l.release();
      },
      (e: Error) => {
        this.counters.sendFailures++;
        this.log?.debug({ to, type: message.type, err: e.message }, 'send failed');
      },
    );
  }

  private transmit(conn: PeerConnection, bytes: Uint8Array): void {
    this.counters.messagesOut++;
    this.counters.bytesOut += bytes.byteLength;
    conn.send(bytes);
  }
}
