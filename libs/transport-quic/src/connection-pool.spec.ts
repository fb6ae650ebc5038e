import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ConnectionPool,
  DialFailed,
  DialTimeout,
  InvalidPeer,
  PeerUnreachable,
  PoolClosed,
  PoolConfigError,
  PoolError,
  PoolExhausted,
  POOL_DEFAULTS,
  type ConnectionPoolOptions,
  type Lease,
  type PoolConnection,
  type PoolTimers,
} from './connection-pool.js';

// ---------- helpers ----------

let nextId = 0;
class FakeConn implements PoolConnection {
  closed = false;
  closeCalls = 0;
  remotelyClosed = false;
  readonly id = ++nextId;
  private readonly listeners: (() => void)[] = [];
  private closedResolve!: () => void;
  /** Resolves when the connection closes (for any reason). */
  readonly whenClosed = new Promise<void>((r) => (this.closedResolve = r));
  constructor(
    readonly peer: string,
    private readonly closeImpl?: () => Promise<void>,
  ) {}
  close(): Promise<void> {
    this.closeCalls++;
    if (this.closeImpl) return this.closeImpl().then(() => this.markClosed());
    this.markClosed();
    return Promise.resolve();
  }
  onClose(listener: () => void): void {
    this.listeners.push(listener);
  }
  remoteClose(): void {
    this.remotelyClosed = true;
    this.markClosed();
  }
  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.closedResolve();
    for (const l of this.listeners) l();
  }
}

/** All microtasks (and promise chains they start) run before a setImmediate callback. */
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A fake clock with timers: time moves only in advance(). */
class FakeTimers implements PoolTimers {
  now = 0;
  private seq = 0;
  readonly live = new Map<number, { at: number; fn: () => void }>();
  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = ++this.seq;
    this.live.set(id, { at: this.now + ms, fn });
    return id;
  };
  clearTimeout = (h: unknown): void => {
    this.live.delete(h as number);
  };
  clock = (): number => this.now;
  async advance(ms: number): Promise<void> {
    const target = this.now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.live) if (e[1].at <= target && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.live.delete(next[0]);
      this.now = Math.max(this.now, next[1].at);
      next[1].fn();
      await flush();
    }
    this.now = target;
    await flush();
  }
}

/** Real timers that remember which handles are still pending. */
function trackingTimers(): PoolTimers & { live: Set<unknown> } {
  const live = new Set<unknown>();
  return {
    live,
    setTimeout(fn, ms) {
      const h: ReturnType<typeof setTimeout> = setTimeout(() => {
        live.delete(h);
        fn();
      }, ms);
      live.add(h);
      return h;
    },
    clearTimeout(h) {
      live.delete(h);
      clearTimeout(h as ReturnType<typeof setTimeout>);
    },
    unref(h) {
      (h as ReturnType<typeof setTimeout>).unref();
    },
  };
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((a, b) => {
    resolve = a;
    reject = b;
  });
  return { promise, resolve, reject };
}

/** Fails the test if p does not settle within ms (the deadline, never the assertion). */
async function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

/** A dialer that connects at once, counting dials. */
function instantDialer() {
  const calls: string[] = [];
  const conns: FakeConn[] = [];
  const dial = async (peer: string): Promise<FakeConn> => {
    calls.push(peer);
    const c = new FakeConn(peer);
    conns.push(c);
    return c;
  };
  return { calls, conns, dial };
}

/** A dialer whose dials the test settles by hand. */
function manualDialer() {
  const dials: { peer: string; signal: AbortSignal; d: Deferred<FakeConn>; settled: boolean }[] = [];
  const dial = (peer: string, signal: AbortSignal): Promise<FakeConn> => {
    const d = deferred<FakeConn>();
    const rec = { peer, signal, d, settled: false };
    dials.push(rec);
    return d.promise;
  };
  const succeed = (i: number): FakeConn => {
    const rec = dials[i];
    const c = new FakeConn(rec.peer);
    rec.settled = true;
    rec.d.resolve(c);
    return c;
  };
  const fail = (i: number, err: unknown = new Error('refused')): void => {
    dials[i].settled = true;
    dials[i].d.reject(err);
  };
  return { dials, dial, succeed, fail };
}

function fakePool(extra: Partial<ConnectionPoolOptions<FakeConn>> & Pick<ConnectionPoolOptions<FakeConn>, 'dial'>) {
  const timers = new FakeTimers();
  const pool = new ConnectionPool<FakeConn>({ timers, now: timers.clock, random: () => 0.5, ...extra });
  return { pool, timers };
}

// ---------- tests ----------

describe('ConnectionPool options', () => {
  const dial = async (peer: string) => new FakeConn(peer);

  it('accepts the defaults', () => {
    const pool = new ConnectionPool<FakeConn>({ dial });
    expect(pool.options).toEqual(POOL_DEFAULTS);
    expect(pool.dialTimeoutMs).toBe(2_000);
    expect(POOL_DEFAULTS).toMatchObject({ maxPerPeer: 1, maxTotal: 64, idleTimeoutMs: 30_000, acquireTimeoutMs: 2_000, dialTimeoutMs: 2_000, backoffBaseMs: 500, backoffMaxMs: 30_000 });
  });

  it.each([
    ['maxPerPeer', 0],
    ['maxPerPeer', 1.5],
    ['maxTotal', -1],
    ['maxTotal', Number.NaN],
    ['idleTimeoutMs', 0],
    ['acquireTimeoutMs', -1],
    ['dialTimeoutMs', 0],
    ['dialTimeoutMs', Infinity],
    ['backoffBaseMs', -5],
    ['backoffMaxMs', 100], // < backoffBaseMs default 500
    ['maxBackoffPeers', 0],
    ['closeTimeoutMs', 0],
    ['idleTimeoutMs', 2 ** 31],
    ['maxTotal', '8'],
    ['random', 42],
    ['now', 'yesterday'],
    ['timers', { setTimeout: () => 1 }],
    ['dial', undefined],
    ['maxTotl', 8],
  ])('rejects %s=%p with a PoolConfigError naming the key', (key, value) => {
    let err: unknown;
    try {
      new ConnectionPool({ dial, [key]: value } as unknown as ConnectionPoolOptions<FakeConn>);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PoolConfigError);
    expect((err as PoolConfigError).key).toBe(key);
    expect((err as Error).message).toContain(key);
  });

  it('rejects a non-object', () => {
    expect(() => new ConnectionPool(null as unknown as ConnectionPoolOptions<FakeConn>)).toThrow(PoolConfigError);
  });
});

describe('ConnectionPool acquire', () => {
  it('reuses one connection: 100 acquires of one peer make 1 dial', async () => {
    const d = instantDialer();
    const { pool } = fakePool({ dial: d.dial });
    for (let i = 0; i < 100; i++) {
      const lease = await pool.acquire('10.0.0.1:7946');
      lease.release();
    }
    const held: Lease<FakeConn>[] = [];
    for (let i = 0; i < 100; i++) held.push(await pool.acquire('10.0.0.1:7946'));
    expect(d.calls).toHaveLength(1);
    expect(new Set(held.map((l) => l.connection)).size).toBe(1);
    expect(pool.stats()).toMatchObject({ open: 1, inUse: 1, idle: 0, dials: 1 });
    for (const l of held) l.release();
    expect(pool.stats()).toMatchObject({ open: 1, inUse: 0, idle: 1 });
    await pool.close();
  });

  it('joins concurrent acquires of one peer into one dial', async () => {
    const m = manualDialer();
    const { pool } = fakePool({ dial: m.dial });
    const all = Promise.all(Array.from({ length: 10 }, () => pool.acquire('b:1')));
    await flush();
    expect(m.dials).toHaveLength(1);
    expect(pool.stats()).toMatchObject({ pending: 10, dialing: 1, perPeer: { 'b:1': 1 } });
    const conn = m.succeed(0);
    const leases = await all;
    expect(leases.every((l) => l.connection === conn)).toBe(true);
    expect(pool.stats()).toMatchObject({ pending: 0, dialing: 0, open: 1, dials: 1 });
    await pool.close();
  });

  it('rejects a dial over dialTimeoutMs with DialTimeout and aborts its signal (real timers)', async () => {
    let signal: AbortSignal | undefined;
    const timers = trackingTimers();
    const pool = new ConnectionPool<FakeConn>({
      dialTimeoutMs: 30,
      timers,
      dial: (_peer, s) => {
        signal = s;
        return new Promise<FakeConn>(() => {}); // hangs forever
      },
    });
    const t0 = performance.now();
    const err = await within(rejection(pool.acquire('c:1')), 2_000);
    const elapsed = performance.now() - t0;
    expect(err).toBeInstanceOf(DialTimeout);
    expect(elapsed).toBeGreaterThanOrEqual(25);
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBe(err);
    expect(pool.stats()).toMatchObject({ dialing: 0, dialFailures: 1, pending: 0 });
    await pool.close();
    expect(timers.live.size).toBe(0);
  });

  it('closes a connection that arrives after its dial timed out', async () => {
    const m = manualDialer();
    const { pool, timers } = fakePool({ dial: m.dial, dialTimeoutMs: 100 });
    const p = rejection(pool.acquire('late:1'));
    await timers.advance(100);
    expect(await p).toBeInstanceOf(DialTimeout);
    const conn = m.succeed(0);
    await flush();
    expect(conn.closed).toBe(true);
    expect(pool.stats()).toMatchObject({ open: 0, dialing: 0 });
    await pool.close();
  });

  it('wraps dialer errors (also synchronous throws) in DialFailed and rejects invalid peers', async () => {
    const boom = new Error('ECONNREFUSED');
    const { pool } = fakePool({
      dial: (peer) => {
        if (peer === 'sync:1') throw boom;
        return Promise.reject(boom);
      },
    });
    for (const peer of ['async:1', 'sync:1']) {
      const err = await rejection(pool.acquire(peer));
      expect(err).toBeInstanceOf(DialFailed);
      expect(err).toBeInstanceOf(PoolError);
      expect((err as DialFailed).cause).toBe(boom);
    }
    expect(await rejection(pool.acquire(''))).toBeInstanceOf(InvalidPeer);
    expect(await rejection(pool.acquire(42 as unknown as string))).toBeInstanceOf(InvalidPeer);
    expect(pool.stats()).toMatchObject({ dials: 2, dialFailures: 2 });
    await pool.close();
  });

  it('rejects with PoolExhausted within acquireTimeoutMs when all slots are in use (real timers)', async () => {
    const d = instantDialer();
    const timers = trackingTimers();
    const pool = new ConnectionPool<FakeConn>({ maxTotal: 2, acquireTimeoutMs: 50, timers, dial: d.dial });
    const a = await pool.acquire('a:1');
    const b = await pool.acquire('b:1');
    const t0 = performance.now();
    const err = await within(rejection(pool.acquire('c:1')), 2_000);
    const elapsed = performance.now() - t0;
    expect(err).toBeInstanceOf(PoolExhausted);
    expect(elapsed).toBeGreaterThanOrEqual(45);
    expect(elapsed).toBeLessThan(50 + 150);
    expect(d.calls).toEqual(['a:1', 'b:1']);
    expect(pool.stats()).toMatchObject({ exhausted: 1, pending: 0, open: 2, evictions: 0 });
    a.release();
    b.release();
    await pool.close();
    expect(timers.live.size).toBe(0);
  });

  it('serves a waiting acquire when a connection becomes idle (evicting it)', async () => {
    const d = instantDialer();
    const { pool } = fakePool({ dial: d.dial, maxTotal: 1, acquireTimeoutMs: 1_000 });
    const a = await pool.acquire('a:1');
    const waiting = pool.acquire('b:1');
    await flush();
    expect(pool.stats().pending).toBe(1);
    a.release();
    const b = await waiting;
    expect(b.connection.peer).toBe('b:1');
    expect(a.connection.closed).toBe(true);
    expect(pool.stats()).toMatchObject({ open: 1, evictions: 1, pending: 0 });
    await pool.close();
  });

  it('evicts the least-recently-used idle connection when full', async () => {
    const d = instantDialer();
    const { pool, timers } = fakePool({ dial: d.dial, maxTotal: 2 });
    (await pool.acquire('a:1')).release();
    await timers.advance(10);
    (await pool.acquire('b:1')).release();
    await timers.advance(10);
    (await pool.acquire('a:1')).release(); // a is now more recently used than b
    await timers.advance(10);
    const c = await pool.acquire('c:1');
    const [ca, cb] = d.conns;
    expect(cb.peer).toBe('b:1');
    expect(cb.closed).toBe(true);
    expect(ca.closed).toBe(false);
    expect(pool.stats()).toMatchObject({ open: 2, evictions: 1, perPeer: { 'a:1': 1, 'c:1': 1 } });
    c.release();
    await pool.close();
  });

  it('never evicts a connection in use; release is idempotent', async () => {
    const d = instantDialer();
    const { pool } = fakePool({ dial: d.dial, maxTotal: 1, acquireTimeoutMs: 0 });
    const l1 = await pool.acquire('a:1');
    const l2 = await pool.acquire('a:1');
    l1.release();
    l1.release();
    l1.release();
    expect(pool.stats()).toMatchObject({ inUse: 1, idle: 0 });
    expect(await rejection(pool.acquire('b:1'))).toBeInstanceOf(PoolExhausted);
    expect(l2.connection.closed).toBe(false);
    l2.release();
    expect(pool.stats()).toMatchObject({ inUse: 0, idle: 1 });
    await pool.close();
  });
});

describe('ConnectionPool backoff', () => {
  it('grows exponentially with full jitter, caps, and resets on success', async () => {
    let fail = true;
    let dials = 0;
    const randoms: number[] = [];
    const { pool, timers } = fakePool({
      backoffBaseMs: 100,
      backoffMaxMs: 1_000,
      random: () => {
        randoms.push(0.5);
        return 0.5;
      },
      dial: async (peer) => {
        dials++;
        if (fail) throw new Error('unreachable');
        return new FakeConn(peer);
      },
    });
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      expect(await rejection(pool.acquire('x:1'))).toBeInstanceOf(DialFailed);
      const start = timers.now;
      const err = await rejection(pool.acquire('x:1'));
      expect(err).toBeInstanceOf(PeerUnreachable);
      const retryAt = (err as PeerUnreachable).retryAt;
      delays.push(retryAt - start);
      expect(dials).toBe(i + 1); // rejected at once, no dial
      await timers.advance(retryAt - timers.now);
    }
    // ceiling 100, 200, 400, 800, 1000 (cap) …, times random 0.5
    expect(delays).toEqual([50, 100, 200, 400, 500, 500, 500]);
    fail = false;
    (await pool.acquire('x:1')).release();
    fail = true;
    // a new peer's backoff is independent
    expect(await rejection(pool.acquire('y:1'))).toBeInstanceOf(DialFailed);
    expect(((await rejection(pool.acquire('y:1'))) as PeerUnreachable).retryAt - timers.now).toBe(50);
    // x: drop the working connection, fail again: back to the base ceiling
    pool.tryAcquire('x:1')!.connection.remoteClose();
    expect(await rejection(pool.acquire('x:1'))).toBeInstanceOf(DialFailed);
    expect(((await rejection(pool.acquire('x:1'))) as PeerUnreachable).retryAt - timers.now).toBe(50);
    await pool.close();
  });

  it('uses the injected random for the jitter', async () => {
    const seq = [0, 0.25, 0.999];
    let i = 0;
    const { pool, timers } = fakePool({
      backoffBaseMs: 400,
      backoffMaxMs: 10_000,
      random: () => seq[i++],
      dial: async () => {
        throw new Error('down');
      },
    });
    await rejection(pool.acquire('j:1')); // ceiling 400 × 0 → retry at once
    await rejection(pool.acquire('j:1')); // dials again; ceiling 800 × 0.25 = 200
    const err = (await rejection(pool.acquire('j:1'))) as PeerUnreachable;
    expect(err).toBeInstanceOf(PeerUnreachable);
    expect(err.retryAt - timers.now).toBe(200);
    await timers.advance(200);
    await rejection(pool.acquire('j:1')); // ceiling 1600 × 0.999
    expect(((await rejection(pool.acquire('j:1'))) as PeerUnreachable).retryAt - timers.now).toBeCloseTo(1598.4);
    await pool.close();
  });
});

describe('ConnectionPool idle and remote close', () => {
  it('closes an idle connection after idleTimeoutMs (real timers)', async () => {
    const d = instantDialer();
    const timers = trackingTimers();
    const pool = new ConnectionPool<FakeConn>({ idleTimeoutMs: 40, timers, dial: d.dial });
    const lease = await pool.acquire('i:1');
    const t0 = performance.now();
    lease.release();
    await within(lease.connection.whenClosed, 2_000);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(35);
    expect(pool.stats()).toMatchObject({ open: 0, idle: 0, idleClosed: 1 });
    expect(timers.live.size).toBe(0);
    await pool.close();
  });

  it('does not idle-close a connection in use, and restarts the idle clock on release', async () => {
    const d = instantDialer();
    const { pool, timers } = fakePool({ idleTimeoutMs: 100, dial: d.dial });
    const lease = await pool.acquire('i:1');
    await timers.advance(1_000);
    expect(lease.connection.closed).toBe(false);
    lease.release();
    await timers.advance(99);
    expect(lease.connection.closed).toBe(false);
    const again = pool.tryAcquire('i:1')!;
    expect(again.connection).toBe(lease.connection);
    again.release();
    await timers.advance(99);
    expect(lease.connection.closed).toBe(false);
    await timers.advance(1);
    expect(lease.connection.closed).toBe(true);
    expect(pool.stats()).toMatchObject({ open: 0, idleClosed: 1 });
    await pool.close();
  });

  it('forgets a connection closed by the remote side; the next acquire dials again', async () => {
    const d = instantDialer();
    const { pool } = fakePool({ dial: d.dial });
    const l1 = await pool.acquire('r:1');
    l1.connection.remoteClose();
    expect(pool.stats()).toMatchObject({ open: 0, inUse: 0, perPeer: {} });
    l1.release(); // harmless after the close
    const l2 = await pool.acquire('r:1');
    expect(d.calls).toHaveLength(2);
    expect(l2.connection).not.toBe(l1.connection);
    expect(pool.stats()).toMatchObject({ open: 1, inUse: 1 });
    await pool.close();
  });
});

describe('ConnectionPool closePeer', () => {
  it('closes every connection to one peer (leased, idle, inbound), leaves others, and the next acquire dials again', async () => {
    const d = instantDialer();
    const { pool } = fakePool({ dial: d.dial, maxPerPeer: 2 });
    const leased = await pool.acquire('dead:1');
    const inbound = new FakeConn('dead:1');
    expect(pool.addInbound(inbound)).toBe(true);
    const other = await pool.acquire('live:1');
    other.release();
    expect(pool.stats()).toMatchObject({ open: 3, perPeer: { 'dead:1': 2, 'live:1': 1 } });
    expect(pool.closePeer('dead:1')).toBe(2);
    expect(leased.connection.closed).toBe(true);
    expect(inbound.closed).toBe(true);
    expect(other.connection.closed).toBe(false);
    expect(pool.stats()).toMatchObject({ open: 1, idle: 1, inUse: 0, peerClosed: 2, perPeer: { 'live:1': 1 } });
    leased.release(); // harmless after the close
    expect(pool.closePeer('dead:1')).toBe(0);
    expect(pool.closePeer('')).toBe(0);
    // A filter picks which of the peer's connections go; a throwing filter picks none.
    expect(pool.closePeer('live:1', () => false)).toBe(0);
    expect(pool.closePeer('live:1', () => {
      throw new Error('boom');
    })).toBe(0);
    expect(other.connection.closed).toBe(false);
    const again = await pool.acquire('dead:1');
    expect(again.connection).not.toBe(leased.connection);
    expect(d.calls.filter((p) => p === 'dead:1')).toHaveLength(2);
    again.release();
    await pool.close();
    expect(pool.closePeer('live:1')).toBe(0);
  });

  it('leaves a dial in flight alone and frees the slot for a waiting acquire', async () => {
    const m = manualDialer();
    const { pool } = fakePool({ dial: m.dial, maxTotal: 1, acquireTimeoutMs: 1000 });
    const first = pool.acquire('a:1');
    await flush();
    m.succeed(0);
    const lease = await first;
    const waiting = pool.acquire('b:1'); // pool full, the only connection is in use: waits
    await flush();
    expect(pool.stats()).toMatchObject({ pending: 1, dialing: 0 });
    expect(pool.closePeer('a:1')).toBe(1); // frees the slot: the waiter dials b
    await flush();
    expect(pool.stats()).toMatchObject({ dialing: 1 });
    expect(pool.closePeer('b:1')).toBe(0); // the dial in flight is untouched
    m.succeed(1);
    const b = await waiting;
    expect(b.connection.peer).toBe('b:1');
    lease.release();
    b.release();
    await pool.close();
  });
});

describe('ConnectionPool inbound and tryAcquire', () => {
  it('counts inbound connections and reuses them for acquire without dialing', async () => {
    const d = instantDialer();
    const { pool } = fakePool({ dial: d.dial });
    expect(pool.tryAcquire('in:1')).toBeUndefined();
    const conn = new FakeConn('in:1');
    expect(pool.addInbound(conn)).toBe(true);
    expect(pool.addInbound(conn)).toBe(true); // idempotent
    expect(pool.stats()).toMatchObject({ open: 1, idle: 1, perPeer: { 'in:1': 1 } });
    const t = pool.tryAcquire('in:1')!;
    expect(t.connection).toBe(conn);
    const l = await pool.acquire('in:1');
    expect(l.connection).toBe(conn);
    expect(d.calls).toHaveLength(0);
    t.release();
    l.release();
    await pool.close();
  });

  it('at maxTotal evicts the LRU idle connection, or refuses when all are in use', async () => {
    const d = instantDialer();
    const { pool } = fakePool({ dial: d.dial, maxTotal: 2 });
    (await pool.acquire('a:1')).release();
    const b = await pool.acquire('b:1');
    const in1 = new FakeConn('c:1');
    expect(pool.addInbound(in1)).toBe(true);
    expect(d.conns[0].closed).toBe(true); // a was the idle one
    const cLease = pool.tryAcquire('c:1')!;
    const in2 = new FakeConn('d:1');
    expect(pool.addInbound(in2)).toBe(false);
    expect(in2.closed).toBe(true);
    expect(pool.stats()).toMatchObject({ open: 2, evictions: 1, inboundRefused: 1 });
    b.release();
    cLease.release();
    await pool.close();
  });

  it('over maxPerPeer replaces the older idle connection of that peer, or refuses', async () => {
    const d = instantDialer();
    const { pool } = fakePool({ dial: d.dial, maxPerPeer: 1 });
    (await pool.acquire('p:1')).release();
    const fresh = new FakeConn('p:1');
    expect(pool.addInbound(fresh)).toBe(true);
    expect(d.conns[0].closed).toBe(true);
    const held = pool.tryAcquire('p:1')!;
    const third = new FakeConn('p:1');
    expect(pool.addInbound(third)).toBe(false);
    expect(third.closed).toBe(true);
    expect(pool.stats().perPeer).toEqual({ 'p:1': 1 });
    held.release();
    await pool.close();
  });

  it("policy 'keep-outbound' refuses an inbound while our dial or dialed connection to that peer exists; an older inbound is still replaced", async () => {
    const m = manualDialer();
    const { pool } = fakePool({ dial: m.dial, maxPerPeer: 1 });
    const dialing = pool.acquire('p:1');
    await flush();
    const crossing = new FakeConn('p:1');
    expect(pool.addInbound(crossing, 'keep-outbound')).toBe(false); // our dial in flight wins
    expect(crossing.closed).toBe(true);
    const out = m.succeed(0);
    (await dialing).release();
    const late = new FakeConn('p:1');
    expect(pool.addInbound(late, 'keep-outbound')).toBe(false); // our idle dialed connection wins too
    expect(out.closed).toBe(false);
    // Only inbound ones of that peer: the newer inbound replaces the older idle one.
    const i1 = new FakeConn('r:1');
    const i2 = new FakeConn('r:1');
    expect(pool.addInbound(i1, 'keep-outbound')).toBe(true);
    expect(pool.addInbound(i2, 'keep-outbound')).toBe(true);
    expect(i1.closed).toBe(true);
    expect(pool.stats()).toMatchObject({ inboundRefused: 2, perPeer: { 'p:1': 1, 'r:1': 1 } });
    await pool.close();
  });

  it("policy 'prefer-inbound' aborts our dial in flight and hands the inbound to its waiters", async () => {
    const m = manualDialer();
    const { pool } = fakePool({ dial: m.dial, maxPerPeer: 1, maxTotal: 1 });
    const w1 = pool.acquire('p:1');
    const w2 = pool.acquire('p:1');
    await flush();
    expect(m.dials).toHaveLength(1);
    const inbound = new FakeConn('p:1');
    expect(pool.addInbound(inbound, 'prefer-inbound')).toBe(true); // maxTotal 1: the dial's slot is reused
    expect(m.dials[0].signal.aborted).toBe(true);
    const [l1, l2] = await Promise.all([w1, w2]);
    expect(l1.connection).toBe(inbound);
    expect(l2.connection).toBe(inbound);
    // The aborted dial still yields a connection: it is closed, not counted.
    const stale = m.succeed(0);
    await flush();
    expect(stale.closed).toBe(true);
    expect(pool.stats()).toMatchObject({ open: 1, dialing: 0, dialsReplaced: 1, dialFailures: 0, perPeer: { 'p:1': 1 } });
    l1.release();
    l2.release();
    // With an idle connection of that peer, that one is replaced instead.
    const next = new FakeConn('p:1');
    expect(pool.addInbound(next, 'prefer-inbound')).toBe(true);
    expect(inbound.closed).toBe(true);
    // In use and no dial: refused.
    const held = pool.tryAcquire('p:1')!;
    const refused = new FakeConn('p:1');
    expect(pool.addInbound(refused, 'prefer-inbound')).toBe(false);
    held.release();
    await pool.close();
  });

  it('with maxPerPeer 2 keeps an inbound and an outbound connection and leases the least busy', async () => {
    const d = instantDialer();
    const { pool } = fakePool({ dial: d.dial, maxPerPeer: 2 });
    const out = await pool.acquire('q:1');
    const inbound = new FakeConn('q:1');
    expect(pool.addInbound(inbound)).toBe(true);
    const next = await pool.acquire('q:1');
    expect(next.connection).toBe(inbound);
    expect(pool.stats().perPeer).toEqual({ 'q:1': 2 });
    out.release();
    next.release();
    await pool.close();
  });

  it('refuses bad inbound input instead of throwing', async () => {
    const { pool } = fakePool({ dial: instantDialer().dial });
    expect(pool.addInbound(null as unknown as FakeConn)).toBe(false);
    expect(pool.addInbound({ peer: '', closed: false } as unknown as FakeConn)).toBe(false);
    const dead = new FakeConn('z:1');
    dead.remoteClose();
    expect(pool.addInbound(dead)).toBe(false);
    expect(pool.stats()).toMatchObject({ open: 0, inboundRefused: 3 });
    await pool.close();
  });
});

describe('ConnectionPool close', () => {
  it('rejects waiters with PoolClosed, aborts dials, closes connections in parallel, idempotent, leaves no timers', async () => {
    const m = manualDialer();
    const closing: Deferred<void>[] = [];
    const { pool, timers } = fakePool({ dial: m.dial, maxTotal: 4, idleTimeoutMs: 5_000 });
    // three open connections, all in use
    const conns: FakeConn[] = [];
    for (const peer of ['a:1', 'b:1', 'c:1']) {
      const d = deferred<void>();
      closing.push(d);
      const c = new FakeConn(peer, () => d.promise);
      conns.push(c);
      expect(pool.addInbound(c)).toBe(true);
    }
    const inUse = ['a:1', 'b:1', 'c:1'].map((peer) => pool.tryAcquire(peer)!);
    // one dial in flight with 2 joiners, one acquire waiting for a slot
    const joiners = [rejection(pool.acquire('d:1')), rejection(pool.acquire('d:1'))];
    const waiter = rejection(pool.acquire('e:1'));
    await flush();
    expect(pool.stats()).toMatchObject({ open: 3, dialing: 1, pending: 3 });
    expect(timers.live.size).toBeGreaterThan(0);

    const p1 = pool.close();
    const p2 = pool.close();
    expect(p2).toBe(p1);
    // every close() was started before any finished: in parallel
    expect(conns.map((c) => c.closeCalls)).toEqual([1, 1, 1]);
    for (const e of [...(await Promise.all(joiners)), await waiter]) expect(e).toBeInstanceOf(PoolClosed);
    expect(m.dials[0].signal.aborted).toBe(true);
    for (const d of closing) d.resolve();
    await p1;
    expect(conns.every((c) => c.closed)).toBe(true);
    expect(timers.live.size).toBe(0);
    expect(pool.stats()).toMatchObject({ open: 0, dialing: 0, pending: 0 });

    // after close
    expect(await rejection(pool.acquire('a:1'))).toBeInstanceOf(PoolClosed);
    expect(pool.tryAcquire('a:1')).toBeUndefined();
    const late = new FakeConn('f:1');
    expect(pool.addInbound(late)).toBe(false);
    expect(late.closed).toBe(true);
    const lateDial = m.succeed(0);
    await flush();
    expect(lateDial.closed).toBe(true);
    for (const l of inUse) l.release();
    expect(timers.live.size).toBe(0);
  });

  it('bounds close() by closeTimeoutMs when a connection never finishes closing (real timers)', async () => {
    const timers = trackingTimers();
    const pool = new ConnectionPool<FakeConn>({ closeTimeoutMs: 30, timers, dial: instantDialer().dial });
    pool.addInbound(new FakeConn('stuck:1', () => new Promise<void>(() => {})));
    await within(pool.close(), 2_000);
    expect(timers.live.size).toBe(0);
  });

  it('leaves no real timer pending after close() following mixed activity', async () => {
    const timers = trackingTimers();
    const m = manualDialer();
    const pool = new ConnectionPool<FakeConn>({ maxTotal: 2, timers, dial: m.dial });
    pool.addInbound(new FakeConn('a:1')); // idle timer
    const held = pool.tryAcquire('a:1')!;
    const dialing = rejection(pool.acquire('b:1')); // dial timer
    const waiting = rejection(pool.acquire('c:1')); // acquire timer
    await flush();
    expect(timers.live.size).toBe(2);
    held.release(); // idle timer again; the waiter evicts a:1 and dials c:1
    await flush();
    expect(timers.live.size).toBe(2); // two dial timers
    await pool.close();
    expect(await dialing).toBeInstanceOf(PoolClosed);
    expect(await waiting).toBeInstanceOf(PoolClosed);
    expect(timers.live.size).toBe(0);
  });
});

/**
 * Child process: two pools with real, ref'd timers (so any timer left behind would keep the
 * process alive for 60 s): one with idle connections and a hanging dial, one with a lease held
 * and an acquire waiting for a slot. After close() the process must exit by itself.
 */
const CHILD_SCRIPT = (poolUrl: string): string => `
const { ConnectionPool, PoolClosed } = await import(${JSON.stringify(poolUrl)});
const conn = (peer) => {
  let closed = false;
  const listeners = [];
  return { peer, get closed() { return closed; }, onClose: (l) => listeners.push(l),
    close: async () => { if (!closed) { closed = true; for (const l of listeners) l(); } } };
};
const timers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h) };
const long = { idleTimeoutMs: 60000, acquireTimeoutMs: 60000, dialTimeoutMs: 60000, closeTimeoutMs: 60000, timers };
const p1 = new ConnectionPool({ ...long, maxTotal: 4, dial: (peer) => peer === 'hang:1' ? new Promise(() => {}) : Promise.resolve(conn(peer)) });
p1.addInbound(conn('in:1'));
(await p1.acquire('a:1')).release();
const hanging = p1.acquire('hang:1').catch((e) => e);
const p2 = new ConnectionPool({ ...long, maxTotal: 1, dial: async (peer) => conn(peer) });
const held = await p2.acquire('x:1');
const waiting = p2.acquire('y:1').catch((e) => e);
await new Promise((r) => setImmediate(r));
const s1 = p1.stats(), s2 = p2.stats();
if (s1.idle !== 2 || s1.dialing !== 1 || s2.inUse !== 1 || s2.pending !== 1) throw new Error('setup ' + JSON.stringify([s1, s2]));
await Promise.all([p1.close(), p2.close()]);
if (!((await hanging) instanceof PoolClosed) || !((await waiting) instanceof PoolClosed)) throw new Error('waiters not rejected');
held.release();
console.log('closed ' + Date.now());
`;

describe('ConnectionPool process lifetime', () => {
  it('a process that used pools exits by itself after close()', async () => {
    const here = import.meta.dirname;
    const poolUrl = pathToFileURL(path.join(here, 'connection-pool.ts')).href;
    const child = spawn(
      process.execPath,
      ['--import', path.join(here, '..', 'test', 'register-ts.mjs'), '--input-type=module', '-e', CHILD_SCRIPT(poolUrl)],
      { cwd: path.join(here, '..'), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const deadlineMs = 15_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const result = await Promise.race([
      new Promise<{ code: number | null; at: number }>((resolve) => child.on('exit', (code) => resolve({ code, at: Date.now() }))),
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), deadlineMs))),
    ]);
    clearTimeout(timer);
    if (result === 'timeout') {
      child.kill('SIGKILL');
      throw new Error(`child did not exit within ${deadlineMs} ms; stdout=${stdout} stderr=${stderr}`);
    }
    expect({ code: result.code, stderr: stderr.replace(/\(node:\d+\) ExperimentalWarning.*\n|\(Use `node --trace-warnings.*\n/g, '') }).toEqual({ code: 0, stderr: '' });
    const closedAt = Number(/closed (\d+)/.exec(stdout)?.[1]);
    expect(result.at - closedAt).toBeLessThan(1_000);
  }, 30_000);
});

// ---------- randomized model test ----------

type Action =
  | { t: 'acquire'; peer: number }
  | { t: 'try'; peer: number }
  | { t: 'release'; i: number; twice: boolean }
  | { t: 'inbound'; peer: number }
  | { t: 'remoteClose'; i: number }
  | { t: 'dialOk'; i: number }
  | { t: 'dialFail'; i: number }
  | { t: 'time'; ms: number };

const PEERS = ['p0:1', 'p1:1', 'p2:1', 'p3:1', 'p4:1'];
const peerArb = fc.nat({ max: PEERS.length - 1 });
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('acquire' as const), peer: peerArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('try' as const), peer: peerArb }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('release' as const), i: fc.nat(), twice: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('inbound' as const), peer: peerArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('remoteClose' as const), i: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('dialOk' as const), i: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('dialFail' as const), i: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('time' as const), ms: fc.integer({ min: 1, max: 70 }) }) },
);

describe('ConnectionPool model', () => {
  it('never exceeds maxTotal or maxPerPeer, never closes a leased connection, bounds every wait', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 2 }),
        fc.array(actionArb, { maxLength: 60 }),
        async (maxTotal, maxPerPeer, actions) => {
          const m = manualDialer();
          const conns: FakeConn[] = [];
          const { pool, timers } = fakePool({
            dial: (peer, signal) => m.dial(peer, signal),
            maxTotal,
            maxPerPeer,
            acquireTimeoutMs: 50,
            dialTimeoutMs: 40,
            idleTimeoutMs: 150,
            backoffBaseMs: 20,
            backoffMaxMs: 80,
          });
          const held: Lease<FakeConn>[] = [];
          const acquires: { settled: boolean; error?: unknown }[] = [];
          const track = (p: Promise<Lease<FakeConn>>): void => {
            const rec: { settled: boolean; error?: unknown } = { settled: false };
            acquires.push(rec);
            p.then(
              (l) => {
                rec.settled = true;
                held.push(l);
              },
              (e: unknown) => {
                rec.settled = true;
                rec.error = e;
              },
            );
          };
          const check = (): void => {
            // Count from the outside: connections not closed + dials neither settled nor aborted.
            const perPeer: Record<string, number> = {};
            let total = 0;
            for (const c of conns) {
              if (c.closed) continue;
              total++;
              perPeer[c.peer] = (perPeer[c.peer] ?? 0) + 1;
            }
            for (const d of m.dials) {
              if (d.settled || d.signal.aborted) continue;
              total++;
              perPeer[d.peer] = (perPeer[d.peer] ?? 0) + 1;
            }
            expect(total).toBeLessThanOrEqual(maxTotal);
            for (const n of Object.values(perPeer)) expect(n).toBeLessThanOrEqual(maxPerPeer);
            const s = pool.stats();
            expect(s.open + s.dialing).toBe(total);
            expect(s.perPeer).toEqual(perPeer);
            expect(s.idle + s.inUse).toBe(s.open);
            // the pool never closes a connection someone holds a lease on
            for (const l of held) expect(l.connection.closeCalls === 0 || l.connection.remotelyClosed).toBe(true);
            for (const a of acquires) if (a.error !== undefined) expect(a.error).toBeInstanceOf(PoolError);
          };

          for (const a of actions) {
            switch (a.t) {
              case 'acquire':
                track(pool.acquire(PEERS[a.peer]));
                break;
              case 'try': {
                const l = pool.tryAcquire(PEERS[a.peer]);
                if (l) held.push(l);
                break;
              }
              case 'release':
                if (held.length > 0) {
                  const [l] = held.splice(a.i % held.length, 1);
                  l.release();
                  if (a.twice) l.release();
                }
                break;
              case 'inbound': {
                const c = new FakeConn(PEERS[a.peer]);
                conns.push(c);
                const accepted = pool.addInbound(c);
                expect(accepted).toBe(!c.closed);
                break;
              }
              case 'remoteClose': {
                const open = conns.filter((c) => !c.closed);
                if (open.length > 0) open[a.i % open.length].remoteClose();
                break;
              }
              case 'dialOk':
              case 'dialFail': {
                // may pick an aborted dial: a late success must be closed by the pool
                const live = m.dials.map((d, i) => ({ d, i })).filter((x) => !x.d.settled);
                if (live.length > 0) {
                  const { i } = live[a.i % live.length];
                  if (a.t === 'dialOk') conns.push(m.succeed(i));
                  else m.fail(i);
                }
                break;
              }
              case 'time':
                await timers.advance(a.ms);
                break;
            }
            await flush();
            check();
          }

          // every acquire settles within acquireTimeoutMs + dialTimeoutMs (a slot wait, then a dial);
          // connections idle since less than 150 ms stay open, so close() must clear their timers
          await timers.advance(50 + 40);
          check();
          expect(acquires.every((a) => a.settled)).toBe(true);
          expect(pool.stats().pending).toBe(0);
          await pool.close();
          expect(conns.every((c) => c.closed)).toBe(true);
          expect(timers.live.size).toBe(0);
        },
      ),
      { numRuns: 400 },
    );
  });
});
