/**
 * A bounded pool of connections to peers, generic over the connection type so it can be
 * tested without sockets and used with real QUIC connections by the runtime.
 *
 * Guarantees (each backed by a test in connection-pool.spec.ts):
 * - never more than `maxTotal` connections open or being dialed, inbound ones included;
 * - never more than `maxPerPeer` for one peer (open or being dialed);
 * - concurrent acquires of one peer share one dial, and an open connection is reused;
 * - least-recently-used idle connections are evicted when the pool is full;
 * - failed dials back off exponentially with full jitter, capped; a success resets it;
 * - every wait is bounded: a slot wait by `acquireTimeoutMs`, a dial by `dialTimeoutMs`,
 *   `close()` by `closeTimeoutMs`; so `acquire()` settles within
 *   acquireTimeoutMs + dialTimeoutMs at most;
 * - after `close()` no timer of the pool is left.
 *
 * A connection counts as gone as soon as the pool decides to close it (eviction, idle
 * timeout) or learns it closed; its `close()` then finishes in the background.
 */

/** What the pool needs from a connection. */
export interface PoolConnection {
  /** The key: the peer's advertised address "host:port". */
  readonly peer: string;
  readonly closed: boolean;
  close(): Promise<void>;
  /** Called once when the connection closes for any reason (the pool then forgets it). */
  onClose(listener: () => void): void;
}

/** Timer functions the pool uses; injectable so tests can run on a fake clock. */
export interface PoolTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Optional: let this timer not keep the process alive (used for idle timers). */
  unref?(handle: unknown): void;
}

export interface ConnectionPoolOptions<C extends PoolConnection> {
  /** Most connections (open or being dialed) to one peer. Default 1. */
  maxPerPeer?: number;
  /** Most connections (open or being dialed) in total; inbound connections count too. Default 64. */
  maxTotal?: number;
  /** A connection unused (no lease) this long is closed. Default 30_000 ms. */
  idleTimeoutMs?: number;
  /** The longest acquire() waits for a free slot before PoolExhausted; 0 = fail at once. Default 2_000 ms. */
  acquireTimeoutMs?: number;
  /** The longest a dial may take before DialTimeout (its signal is then aborted). Default 2_000 ms. */
  dialTimeoutMs?: number;
  /** First backoff ceiling after a failed dial; ceiling doubles per further failure (full jitter). 0 = no backoff. Default 500 ms. */
  backoffBaseMs?: number;
  /** Cap of the backoff ceiling. A successful dial resets the backoff. Default 30_000 ms. */
  backoffMaxMs?: number;
  /** How many peers' backoff state is remembered; the least recently failed are forgotten beyond it. Default 1024. */
  maxBackoffPeers?: number;
  /** The longest close() waits for the connections' own close(). Default 2_000 ms. */
  closeTimeoutMs?: number;
  /** Opens a connection to peer; must honour the signal (aborted on timeout or pool close). */
  dial(peer: string, signal: AbortSignal): Promise<C>;
  /** Random number in [0, 1) for the jitter. Default Math.random. */
  random?: () => number;
  /** Clock in ms (last-use times, backoff retry times). Default Date.now. */
  now?: () => number;
  /** Timers. Default the global ones (idle timers unref'd). */
  timers?: PoolTimers;
}

/** How addInbound() settles a conflict with our own connections to that peer (see there). */
export type InboundPolicy = 'replace-idle' | 'keep-outbound' | 'prefer-inbound';

export interface Lease<C extends PoolConnection> {
  readonly connection: C;
  /** Marks the connection no longer in use by this lease. Idempotent. */
  release(): void;
}

export interface PoolStats {
  /** Connections open and tracked by the pool. */
  open: number;
  /** Open connections with no lease. */
  idle: number;
  /** Open connections with at least one lease. */
  inUse: number;
  /** Dials in flight. */
  dialing: number;
  /** acquire() calls not yet settled (waiting for a slot or a dial). */
  pending: number;
  /** Dials started, ever. */
  dials: number;
  /** Dials that failed or timed out, ever. */
  dialFailures: number;
  /** Idle connections closed to make room (LRU eviction, inbound replacing an older one). */
  evictions: number;
  /** Idle connections closed by the idle timeout. */
  idleClosed: number;
  /** acquire() calls rejected with PoolExhausted. */
  exhausted: number;
  /** Inbound connections refused (closed) by addInbound(). */
  inboundRefused: number;
  /** Connections closed by closePeer() (the caller judged the peer dead or restarted). */
  peerClosed: number;
  /** Dials in flight aborted because an inbound connection from that peer took their place. */
  dialsReplaced: number;
  /** Connections open or being dialed, per peer. */
  perPeer: Record<string, number>;
}

export class PoolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** No slot freed up within acquireTimeoutMs. */
export class PoolExhausted extends PoolError {
  constructor(
    readonly peer: string,
    readonly waitedMs: number,
  ) {
    super(`connection pool exhausted: no slot for ${peer} within ${waitedMs} ms`);
  }
}

/** The dial took longer than dialTimeoutMs. */
export class DialTimeout extends PoolError {
  constructor(
    readonly peer: string,
    readonly timeoutMs: number,
  ) {
    super(`dial to ${peer} timed out after ${timeoutMs} ms`);
  }
}

/** The dialer rejected (or returned something that is not an open connection). */
export class DialFailed extends PoolError {
  constructor(
    readonly peer: string,
    override readonly cause: unknown,
  ) {
    super(`dial to ${peer} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/** The peer is backing off after failed dials; retry at `retryAt` (pool clock, ms). */
export class PeerUnreachable extends PoolError {
  constructor(
    readonly peer: string,
    readonly retryAt: number,
  ) {
    super(`peer ${peer} unreachable; backing off until ${retryAt}`);
  }
}

/** The pool was closed. */
export class PoolClosed extends PoolError {
  constructor() {
    super('connection pool closed');
  }
}

/** The peer key is not a non-empty string. */
export class InvalidPeer extends PoolError {
  constructor(readonly peer: unknown) {
    super(`invalid peer ${JSON.stringify(peer)}: must be a non-empty string`);
  }
}

/** An option is invalid; `key` names it. */
export class PoolConfigError extends Error {
  constructor(
    readonly key: string,
    readonly rule: string,
    readonly value: unknown,
  ) {
    super(`invalid connection pool option ${key}=${describe(value)}: ${rule}`);
    this.name = 'PoolConfigError';
  }
}

function describe(v: unknown): string {
  if (typeof v === 'function') return '[function]';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Largest delay Node's setTimeout honours. */
const MAX_TIMER_MS = 2_147_483_647;

export const POOL_DEFAULTS = {
  maxPerPeer: 1,
  maxTotal: 64,
  idleTimeoutMs: 30_000,
  acquireTimeoutMs: 2_000,
  dialTimeoutMs: 2_000,
  backoffBaseMs: 500,
  backoffMaxMs: 30_000,
  maxBackoffPeers: 1024,
  closeTimeoutMs: 2_000,
} as const;

type NumericKey = keyof typeof POOL_DEFAULTS;
type NumRule = { int?: boolean; min: number; minExclusive?: boolean; max: number };
const NUM_RULES: Record<NumericKey, NumRule> = {
  maxPerPeer: { int: true, min: 1, max: 1_000_000 },
  maxTotal: { int: true, min: 1, max: 1_000_000 },
  idleTimeoutMs: { min: 0, minExclusive: true, max: MAX_TIMER_MS },
  acquireTimeoutMs: { min: 0, max: MAX_TIMER_MS },
  dialTimeoutMs: { min: 0, minExclusive: true, max: MAX_TIMER_MS },
  backoffBaseMs: { min: 0, max: MAX_TIMER_MS },
  backoffMaxMs: { min: 0, max: MAX_TIMER_MS },
  maxBackoffPeers: { int: true, min: 1, max: 10_000_000 },
  closeTimeoutMs: { min: 0, minExclusive: true, max: MAX_TIMER_MS },
};
const FN_KEYS = ['dial', 'random', 'now'] as const;
const KNOWN_KEYS = new Set<string>([...Object.keys(NUM_RULES), ...FN_KEYS, 'timers']);

type Resolved<C extends PoolConnection> = Record<NumericKey, number> & {
  dial: ConnectionPoolOptions<C>['dial'];
  random: () => number;
  now: () => number;
  timers: PoolTimers;
};

const realTimers: PoolTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  unref: (h) => (h as ReturnType<typeof setTimeout>).unref?.(),
};

/** Fills defaults and validates every option; throws PoolConfigError naming the key. */
export function resolvePoolOptions<C extends PoolConnection>(opts: ConnectionPoolOptions<C>): Resolved<C> {
  if (typeof opts !== 'object' || opts === null) throw new PoolConfigError('options', 'must be an object', opts);
  for (const key of Object.keys(opts)) {
    if (!KNOWN_KEYS.has(key)) throw new PoolConfigError(key, 'unknown key', (opts as unknown as Record<string, unknown>)[key]);
  }
  const out = {} as Record<NumericKey, number>;
  for (const key of Object.keys(NUM_RULES) as NumericKey[]) {
    const v = opts[key] ?? POOL_DEFAULTS[key];
    const r = NUM_RULES[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new PoolConfigError(key, 'must be a finite number', v);
    if (r.int && !Number.isInteger(v)) throw new PoolConfigError(key, 'must be an integer', v);
    if (r.minExclusive ? v <= r.min : v < r.min) throw new PoolConfigError(key, `must be ${r.minExclusive ? '>' : '>='} ${r.min}`, v);
    if (v > r.max) throw new PoolConfigError(key, `must be <= ${r.max}`, v);
    out[key] = v;
  }
  if (out.backoffMaxMs < out.backoffBaseMs) throw new PoolConfigError('backoffMaxMs', 'must be >= backoffBaseMs', out.backoffMaxMs);
  if (typeof opts.dial !== 'function') throw new PoolConfigError('dial', 'must be a function (peer, signal) => Promise<connection>', opts.dial);
  for (const key of ['random', 'now'] as const) {
    if (opts[key] !== undefined && typeof opts[key] !== 'function') throw new PoolConfigError(key, 'must be a function', opts[key]);
  }
  const t = opts.timers;
  if (t !== undefined) {
    if (typeof t !== 'object' || t === null || typeof t.setTimeout !== 'function' || typeof t.clearTimeout !== 'function')
      throw new PoolConfigError('timers', 'must have setTimeout and clearTimeout functions', t);
    if (t.unref !== undefined && typeof t.unref !== 'function') throw new PoolConfigError('timers', 'unref must be a function', t);
  }
  return {
    ...out,
    dial: opts.dial,
    random: opts.random ?? Math.random,
    now: opts.now ?? Date.now,
    timers: t ?? realTimers,
  };
}

interface Entry<C> {
  readonly conn: C;
  readonly peer: string;
  readonly inbound: boolean;
  leases: number;
  lastUsed: number;
  idleTimer: unknown;
  gone: boolean;
}

interface Waiter<C extends PoolConnection> {
  readonly peer: string;
  readonly resolve: (lease: Lease<C>) => void;
  readonly reject: (err: Error) => void;
  timer: unknown;
  done: boolean;
}

interface Dial<C extends PoolConnection> {
  readonly peer: string;
  readonly controller: AbortController;
  readonly joiners: Waiter<C>[];
  timer: unknown;
  settled: boolean;
}

interface Backoff {
  failures: number;
  retryAt: number;
}

export class ConnectionPool<C extends PoolConnection> {
  private readonly o: Resolved<C>;
  private readonly entries = new Map<C, Entry<C>>();
  private readonly byPeer = new Map<string, Set<Entry<C>>>();
  /** Idle entries in the order they became idle: the first is the least recently used. */
  private readonly idle = new Set<Entry<C>>();
  private readonly dials = new Map<string, Dial<C>>();
  private readonly backoff = new Map<string, Backoff>();
  /** acquire() calls waiting for a slot, oldest first. */
  private queue: Waiter<C>[] = [];
  /** Every unsettled acquire(). */
  private readonly pending = new Set<Waiter<C>>();
  private closed = false;
  private closing: Promise<void> | undefined;
  private pumping = false;
  private pumpAgain = false;
  private readonly counters = { dials: 0, dialFailures: 0, evictions: 0, idleClosed: 0, exhausted: 0, inboundRefused: 0, peerClosed: 0, dialsReplaced: 0 };

  constructor(opts: ConnectionPoolOptions<C>) {
    this.o = resolvePoolOptions(opts);
  }

  /** The validated options in effect. */
  get options(): Readonly<Record<NumericKey, number>> {
    const { dial: _d, random: _r, now: _n, timers: _t, ...nums } = this.o;
    return nums;
  }

  /** dialTimeoutMs in effect (a dialer can pass it on as its own connect timer). */
  get dialTimeoutMs(): number {
    return this.o.dialTimeoutMs;
  }

  /**
   * A connection to peer, marked in use until release(). Reuses an open one (least busy)
   * if any; otherwise dials (concurrent acquires of one peer share one dial). When the
   * pool is full it evicts the least-recently-used idle connection; with nothing
   * evictable it waits up to acquireTimeoutMs for a slot, then rejects with PoolExhausted.
   * A dial over dialTimeoutMs rejects with DialTimeout; a dialer error with DialFailed;
   * while the peer backs off, PeerUnreachable at once.
   */
  acquire(peer: string): Promise<Lease<C>> {
    if (this.closed) return Promise.reject(new PoolClosed());
    if (!validPeer(peer)) return Promise.reject(new InvalidPeer(peer));
    const lease = this.leaseOpen(peer);
    if (lease) return Promise.resolve(lease);
    return new Promise<Lease<C>>((resolve, reject) => {
      const w: Waiter<C> = { peer, resolve, reject, timer: undefined, done: false };
      this.pending.add(w);
      if (this.serve(w)) return;
      if (this.o.acquireTimeoutMs === 0) {
        this.exhaust(w);
        return;
      }
      this.queue.push(w);
      w.timer = this.o.timers.setTimeout(() => {
        w.timer = undefined;
        const i = this.queue.indexOf(w);
        if (i >= 0) this.queue.splice(i, 1);
        this.exhaust(w);
      }, this.o.acquireTimeoutMs);
    });
  }

  /** Connection to peer if one is open (never dials), marked in use. */
  tryAcquire(peer: string): Lease<C> | undefined {
    if (this.closed || !validPeer(peer)) return undefined;
    return this.leaseOpen(peer);
  }

  /**
   * Adds an accepted inbound connection. It counts to the limits: over maxPerPeer for its
   * peer the older idle connection of that peer is closed, at maxTotal the LRU idle one;
   * with nothing idle to close, the new connection is refused (closed) and false returned.
   *
   * `policy` settles two nodes dialing each other at once (each would otherwise close the
   * other's connection and keep its own, and both lose): both sides pick the connection
   * dialed by the same node, e.g. the one with the smaller id.
   * - 'replace-idle' (default): as above.
   * - 'keep-outbound': at the per-peer limit, refuse the inbound while we have a dial in
   *   flight or a dialed connection open to that peer (an older idle inbound is replaced).
   * - 'prefer-inbound': at the per-peer limit, close an idle connection of that peer, or
   *   else abort our dial in flight to it and hand the inbound to that dial's waiters.
   */
  addInbound(connection: C, policy: InboundPolicy = 'replace-idle'): boolean {
    if (this.entries.has(connection)) return true;
    const refuse = (): boolean => {
      this.counters.inboundRefused++;
      if (connection && typeof (connection as Partial<PoolConnection>).close === 'function') void safeClose(connection);
      return false;
    };
    if (this.closed) return refuse();
    if (
      typeof connection !== 'object' ||
      connection === null ||
      !validPeer((connection as Partial<PoolConnection>).peer) ||
      typeof connection.close !== 'function' ||
      typeof connection.onClose !== 'function'
    )
      return refuse();
    if (connection.closed) return refuse();
    const peer = connection.peer;
    let replaced: Dial<C> | undefined;
    if (this.peerCount(peer) >= this.o.maxPerPeer) {
      if (policy === 'keep-outbound' && this.hasOutbound(peer)) return refuse();
      let victim: Entry<C> | undefined;
      for (const e of this.idle) {
        if (e.peer === peer) {
          victim = e;
          break;
        }
      }
      if (victim) this.evict(victim);
      else if (policy === 'prefer-inbound' && this.dials.has(peer)) replaced = this.dials.get(peer);
      else return refuse();
    }
    if (!replaced && this.slotsUsed() >= this.o.maxTotal && !this.evictLru()) return refuse();
    if (replaced) {
      // The dial's slot goes to the inbound; a connection it still yields is closed (dialDone).
      this.finishDial(replaced);
      this.counters.dialsReplaced++;
      abortQuietly(replaced.controller, new DialFailed(peer, new Error('replaced by an inbound connection')));
    }
    const entry = this.track(connection, peer, true);
    if (!entry) {
      if (replaced) for (const w of replaced.joiners) this.settle(w, new DialFailed(peer, new Error('inbound connection closed')));
      return refuse();
    }
    if (replaced) for (const w of replaced.joiners) if (!w.done && !entry.gone) this.settle(w, this.lease(entry));
    if (!entry.gone && entry.leases === 0) this.makeIdle(entry);
    this.pump();
    return true;
  }

  private hasOutbound(peer: string): boolean {
    if (this.dials.has(peer)) return true;
    for (const e of this.byPeer.get(peer) ?? []) if (!e.inbound) return true;
    return false;
  }

  /**
   * Closes every open connection to peer, in use or idle (a lease on one stays harmless:
   * its release() is ignored), so the next acquire dials afresh. For a caller that knows
   * better than the transport that the peer is gone or restarted (a connection to a dead
   * peer only buffers writes until QUIC's idle timeout). A dial in flight is left alone
   * (it is newer than the judgement), and so is the peer's backoff. With `filter`, only
   * the connections it returns true for are closed. Returns how many were closed.
   */
  closePeer(peer: string, filter?: (connection: C) => boolean): number {
    if (this.closed || !validPeer(peer)) return 0;
    const set = this.byPeer.get(peer);
    if (!set) return 0;
    const victims: Entry<C>[] = [];
    for (const e of set) {
      let pick = true;
      if (filter) {
        try {
          pick = filter(e.conn) === true;
        } catch {
          pick = false;
        }
      }
      if (pick) victims.push(e);
    }
    for (const e of victims) {
      this.counters.peerClosed++;
      this.forget(e);
      void safeClose(e.conn);
    }
    this.pump();
    return victims.length;
  }

  stats(): PoolStats {
    const perPeer: Record<string, number> = {};
    for (const [peer, set] of this.byPeer) perPeer[peer] = set.size;
    for (const peer of this.dials.keys()) perPeer[peer] = (perPeer[peer] ?? 0) + 1;
    return {
      open: this.entries.size,
      idle: this.idle.size,
      inUse: this.entries.size - this.idle.size,
      dialing: this.dials.size,
      pending: this.pending.size,
      ...this.counters,
      perPeer,
    };
  }

  /**
   * Closes every connection in parallel, aborts dials and rejects waiting acquires with
   * PoolClosed. Resolves when all connections closed or after closeTimeoutMs. Idempotent.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    const t = this.o.timers;
    this.queue = [];
    for (const d of this.dials.values()) {
      d.settled = true;
      if (d.timer !== undefined) t.clearTimeout(d.timer);
      d.timer = undefined;
      abortQuietly(d.controller, new PoolClosed());
    }
    this.dials.clear();
    for (const w of [...this.pending]) this.settle(w, new PoolClosed());
    const conns = [...this.entries.values()];
    for (const e of conns) this.forget(e);
    this.backoff.clear();
    const all = Promise.all(conns.map((e) => safeClose(e.conn))).then(() => undefined);
    this.closing = new Promise<void>((resolve) => {
      const timer = t.setTimeout(resolve, this.o.closeTimeoutMs);
      void all.then(() => {
        t.clearTimeout(timer);
        resolve();
      });
    });
    return this.closing;
  }

  // ---- internals ----

  private slotsUsed(): number {
    return this.entries.size + this.dials.size;
  }

  private peerCount(peer: string): number {
    return (this.byPeer.get(peer)?.size ?? 0) + (this.dials.has(peer) ? 1 : 0);
  }

  /** Leases the least busy open connection to peer, if any (forgetting ones found closed). */
  private leaseOpen(peer: string): Lease<C> | undefined {
    const set = this.byPeer.get(peer);
    if (!set) return undefined;
    let best: Entry<C> | undefined;
    for (const e of [...set]) {
      if (e.conn.closed) {
        this.forget(e);
        continue;
      }
      if (!best || e.leases < best.leases || (e.leases === best.leases && e.lastUsed > best.lastUsed)) best = e;
    }
    return best ? this.lease(best) : undefined;
  }

  private lease(e: Entry<C>): Lease<C> {
    e.leases++;
    e.lastUsed = this.o.now();
    if (this.idle.delete(e) && e.idleTimer !== undefined) {
      this.o.timers.clearTimeout(e.idleTimer);
      e.idleTimer = undefined;
    }
    let released = false;
    return {
      connection: e.conn,
      release: () => {
        if (released) return;
        released = true;
        if (e.gone) return;
        e.leases--;
        e.lastUsed = this.o.now();
        if (e.leases === 0) {
          this.makeIdle(e);
          this.pump();
        }
      },
    };
  }

  private makeIdle(e: Entry<C>): void {
    this.idle.add(e);
    const t = this.o.timers;
    e.idleTimer = t.setTimeout(() => {
      e.idleTimer = undefined;
      if (e.gone || e.leases > 0) return;
      this.counters.idleClosed++;
      this.forget(e);
      void safeClose(e.conn);
      this.pump();
    }, this.o.idleTimeoutMs);
    t.unref?.(e.idleTimer);
  }

  /**
   * Handles a waiting acquire if it can now: lease an open connection, join a dial,
   * reject during backoff, or start a dial when there is (or can be made) room.
   * Returns false when it must keep waiting for a slot.
   */
  private serve(w: Waiter<C>): boolean {
    const lease = this.leaseOpen(w.peer);
    if (lease) {
      this.settle(w, lease);
      return true;
    }
    const dial = this.dials.get(w.peer);
    if (dial) {
      this.join(dial, w);
      return true;
    }
    const b = this.backoff.get(w.peer);
    if (b && b.retryAt > this.o.now()) {
      this.settle(w, new PeerUnreachable(w.peer, b.retryAt));
      return true;
    }
    // No open connection and no dial to this peer: its count is 0 < maxPerPeer.
    if (this.slotsUsed() >= this.o.maxTotal && !this.evictLru()) return false;
    this.join(this.startDial(w.peer), w);
    return true;
  }

  private join(dial: Dial<C>, w: Waiter<C>): void {
    // From here the dial's own timeout bounds this acquire.
    if (w.timer !== undefined) {
      this.o.timers.clearTimeout(w.timer);
      w.timer = undefined;
    }
    dial.joiners.push(w);
  }

  private exhaust(w: Waiter<C>): void {
    if (w.done) return;
    this.counters.exhausted++;
    this.settle(w, new PoolExhausted(w.peer, this.o.acquireTimeoutMs));
  }

  private settle(w: Waiter<C>, result: Lease<C> | Error): void {
    if (w.done) {
      if (!(result instanceof Error)) result.release();
      return;
    }
    w.done = true;
    this.pending.delete(w);
    if (w.timer !== undefined) {
      this.o.timers.clearTimeout(w.timer);
      w.timer = undefined;
    }
    if (result instanceof Error) w.reject(result);
    else w.resolve(result);
  }

  /** Serves queued acquires in order after a slot or a connection may have freed up. */
  private pump(): void {
    if (this.closed) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        for (const w of [...this.queue]) {
          if (w.done || this.serve(w)) {
            const i = this.queue.indexOf(w);
            if (i >= 0) this.queue.splice(i, 1);
          }
        }
      } while (this.pumpAgain && !this.closed);
    } finally {
      this.pumping = false;
    }
  }

  private startDial(peer: string): Dial<C> {
    const dial: Dial<C> = { peer, controller: new AbortController(), joiners: [], timer: undefined, settled: false };
    this.dials.set(peer, dial);
    this.counters.dials++;
    dial.timer = this.o.timers.setTimeout(() => {
      dial.timer = undefined;
      this.dialFailed(dial, new DialTimeout(peer, this.o.dialTimeoutMs));
    }, this.o.dialTimeoutMs);
    let p: Promise<C>;
    try {
      p = Promise.resolve(this.o.dial(peer, dial.controller.signal));
    } catch (err) {
      p = Promise.reject(err);
    }
    // Always settles asynchronously, so joiners are attached first.
    p.then(
      (conn) => this.dialDone(dial, conn),
      (err: unknown) => this.dialFailed(dial, new DialFailed(peer, err)),
    );
    return dial;
  }

  private finishDial(dial: Dial<C>): void {
    dial.settled = true;
    if (dial.timer !== undefined) this.o.timers.clearTimeout(dial.timer);
    dial.timer = undefined;
    if (this.dials.get(dial.peer) === dial) this.dials.delete(dial.peer);
  }

  private dialDone(dial: Dial<C>, conn: C): void {
    if (dial.settled) {
      // Too late (timed out, or the pool closed): nobody counts this connection.
      if (isConnection(conn)) void safeClose(conn);
      return;
    }
    if (!isConnection(conn) || conn.closed) {
      this.dialFailed(dial, new DialFailed(dial.peer, new Error('dialer returned no open connection')));
      return;
    }
    this.finishDial(dial);
    this.backoff.delete(dial.peer);
    const entry = this.track(conn, dial.peer, false);
    if (!entry) {
      // Closed while registering: the joiners get an error, not a dead connection.
      void safeClose(conn);
      for (const w of dial.joiners) this.settle(w, new DialFailed(dial.peer, new Error('connection closed right after dial')));
      this.pump();
      return;
    }
    for (const w of dial.joiners) {
      if (!w.done && !entry.gone) this.settle(w, this.lease(entry));
      else if (!w.done) this.settle(w, new DialFailed(dial.peer, new Error('connection closed right after dial')));
    }
    if (!entry.gone && entry.leases === 0 && !this.idle.has(entry)) this.makeIdle(entry);
    this.pump();
  }

  private dialFailed(dial: Dial<C>, err: PoolError): void {
    if (dial.settled) return;
    this.finishDial(dial);
    abortQuietly(dial.controller, err);
    this.counters.dialFailures++;
    this.noteFailure(dial.peer);
    for (const w of dial.joiners) this.settle(w, err);
    this.pump();
  }

  /** Full-jitter exponential backoff: delay = random × min(max, base × 2^(failures-1)). */
  private noteFailure(peer: string): void {
    if (this.o.backoffBaseMs === 0) return;
    const prev = this.backoff.get(peer);
    const failures = Math.min((prev?.failures ?? 0) + 1, 64);
    const ceiling = Math.min(this.o.backoffMaxMs, this.o.backoffBaseMs * 2 ** (failures - 1));
    let r = Number(this.o.random());
    if (!(r >= 0)) r = 0;
    if (r > 1) r = 1;
    const retryAt = this.o.now() + r * ceiling;
    this.backoff.delete(peer);
    this.backoff.set(peer, { failures, retryAt });
    while (this.backoff.size > this.o.maxBackoffPeers) {
      const oldest = this.backoff.keys().next().value as string;
      this.backoff.delete(oldest);
    }
  }

  /** Starts tracking a connection; undefined if it turned out closed. */
  private track(conn: C, peer: string, inbound: boolean): Entry<C> | undefined {
    const entry: Entry<C> = { conn, peer, inbound, leases: 0, lastUsed: this.o.now(), idleTimer: undefined, gone: false };
    this.entries.set(conn, entry);
    let set = this.byPeer.get(peer);
    if (!set) this.byPeer.set(peer, (set = new Set()));
    set.add(entry);
    try {
      conn.onClose(() => {
        if (entry.gone) return;
        this.forget(entry);
        this.pump();
      });
    } catch {
      this.forget(entry);
      return undefined;
    }
    if (conn.closed) {
      this.forget(entry);
      return undefined;
    }
    return entry.gone ? undefined : entry;
  }

  /** Stops counting a connection (it closed, or is being closed by the pool). Does not pump. */
  private forget(e: Entry<C>): void {
    if (e.gone) return;
    e.gone = true;
    this.entries.delete(e.conn);
    const set = this.byPeer.get(e.peer);
    if (set) {
      set.delete(e);
      if (set.size === 0) this.byPeer.delete(e.peer);
    }
    this.idle.delete(e);
    if (e.idleTimer !== undefined) {
      this.o.timers.clearTimeout(e.idleTimer);
      e.idleTimer = undefined;
    }
  }

  /** Closes an idle connection to make room. The caller uses the freed slot (no pump). */
  private evict(e: Entry<C>): void {
    this.counters.evictions++;
    this.forget(e);
    void safeClose(e.conn);
  }

  private evictLru(): boolean {
    const first = this.idle.values().next();
    if (first.done) return false;
    this.evict(first.value);
    return true;
  }
}

function validPeer(peer: unknown): peer is string {
  return typeof peer === 'string' && peer.length > 0;
}

function isConnection(c: unknown): c is PoolConnection {
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof (c as PoolConnection).close === 'function' &&
    typeof (c as PoolConnection).onClose === 'function'
  );
}

/** close() that never throws or rejects. */
function safeClose(conn: PoolConnection): Promise<void> {
  try {
    return Promise.resolve(conn.close()).then(
      () => undefined,
      () => undefined,
    );
  } catch {
    return Promise.resolve();
  }
}

function abortQuietly(c: AbortController, reason: unknown): void {
  try {
    c.abort(reason);
  } catch {
    // a listener of the dialer threw; the abort itself happened
  }
}
