/**
 * Pool limits over real QUIC: a node with maxTotal = 4 in a 10-node cluster never holds
 * more than 4 connections, no node ever holds more than maxPerPeer connections to one
 * peer (sampled every 2 ms throughout), the cluster still converges and detects a crash
 * (a node in a child process, SIGKILLed). And pool exhaustion: acquires beyond the
 * limits with nothing evictable fail with PoolExhausted within their timeout.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { ConnectionPool, PoolExhausted } from '../../src/connection-pool.js';
import type { NodeRuntime } from '../../src/node-runtime.js';
import type { PeerConnection } from '../../src/peer-connection.js';
import { QuicEndpoint } from '../../src/quic-endpoint.js';
import { ChildNode, CLUSTER, destroyChildren, EventLog, FAST, FAST_POOL, failureDetectionBoundMs, makeCa, startNode, stopAll, until, within, type Ca } from './support.js';

let ca: Ca;
const nodes: NodeRuntime[] = [];
const endpoints: QuicEndpoint[] = [];

beforeAll(async () => {
  ca = await makeCa();
});

afterEach(async () => {
  await Promise.all([stopAll(nodes.splice(0)), destroyChildren(), ...endpoints.splice(0).map((e) => e.stop())]);
}, 20_000);

afterAll(async () => {
  await destroyChildren();
}, 20_000);

describe('pool limits in a 10-node cluster', () => {
  it('maxTotal = 4 on one node and maxPerPeer = 1 everywhere hold throughout; the cluster converges and detects a crash', async () => {
    const MAX_TOTAL = 4;
    const MAX_PER_PEER = 1;
    const pool = { ...FAST_POOL, maxPerPeer: MAX_PER_PEER };
    const log = new EventLog();
    const seed = await startNode(ca, 'n0', { pool });
    nodes.push(seed);
    log.watch(seed);
    const limited = await startNode(ca, 'limited', { seeds: [seed.address], pool: { ...pool, maxTotal: MAX_TOTAL } });
    nodes.push(limited);
    log.watch(limited);

    // Sample from now on, every 2 ms, until the end of the test.
    const worst = { total: 0, poolSlots: 0, perPeer: 0, samples: 0 };
    const sample = (): void => {
      worst.samples++;
      const conns = limited.connections().length;
      const ps = limited.stats().pool;
      worst.total = Math.max(worst.total, conns);
      worst.poolSlots = Math.max(worst.poolSlots, ps.open + ps.dialing);
      for (const n of nodes) {
        const byPeer = new Map<string, number>();
        for (const c of n.connections()) byPeer.set(c.peerId, (byPeer.get(c.peerId) ?? 0) + 1);
        const poolPerPeer = Object.values(n.stats().pool.perPeer);
        worst.perPeer = Math.max(worst.perPeer, ...byPeer.values(), ...poolPerPeer);
      }
    };
    const sampler = setInterval(sample, 2);
    try {
      for (let i = 1; i <= 7; i++) {
        const n = await startNode(ca, `n${i}`, { seeds: [seed.address], pool });
        nodes.push(n);
        log.watch(n);
      }
      const victim = await ChildNode.start({ id: 'victim', cluster: CLUSTER, seeds: [seed.address], preset: 'local', config: FAST, pool, tls: await ca.tls('victim') });
      const ids = [...nodes.map((n) => n.id), 'victim'];
      expect(ids).toHaveLength(10);
      await until(
        () => nodes.every((n) => ids.every((id) => n.member(id)?.state === 'alive') && n.members().length === 10),
        30_000,
        'all 10 nodes alive in every in-process view',
        () => nodes.map((n) => `${n.id}:${n.members().filter((m) => m.state === 'alive').length}`),
      );
      await until(async () => (await victim.members()).filter((m) => m.state === 'alive').length === 10, 10_000, 'the child to see all 10 alive');
      // The limited node took part: it probed and was probed, through at most 4 connections.
      await until(() => limited.stats().swim.probeSuccesses >= 9, 15_000, 'the limited node to ack-probe 9 times');
      expect(limited.stats().pool.evictions).toBeGreaterThan(0); // the limit was in force, not just never reached

      victim.signal('SIGKILL');
      const killedAt = Date.now();
      const bound = failureDetectionBoundMs(limited.config, 10);
      await until(() => nodes.every((n) => n.member('victim')?.state === 'failed'), bound, `every node to mark the victim failed within ${bound} ms`, () =>
        nodes.map((n) => `${n.id}:${n.member('victim')?.state}`),
      );
      const detectedMs = Date.now() - killedAt;
      // Nobody else was lost on the way: at the end every in-process node sees the other 8 alive.
      await until(() => nodes.every((n) => nodes.every((m) => n.member(m.id)?.state === 'alive')), 10_000, 'the 9 survivors alive everywhere');
      sample();
      process.stdout.write(
        `[limits] ${worst.samples} samples: max connections on the limited node ${worst.total} (pool slots ${worst.poolSlots}), max per peer ${worst.perPeer}; ` +
          `crash detected everywhere in ${detectedMs} ms (bound ${bound} ms); limited pool ${JSON.stringify({ ...limited.stats().pool, perPeer: undefined })}\n`,
      );
    } finally {
      clearInterval(sampler);
    }
    expect(worst.samples).toBeGreaterThan(500);
    expect(worst.total).toBeLessThanOrEqual(MAX_TOTAL);
    expect(worst.poolSlots).toBeLessThanOrEqual(MAX_TOTAL);
    expect(worst.perPeer).toBeLessThanOrEqual(MAX_PER_PEER);
    expect(worst.total).toBeGreaterThan(0);
  }, 90_000);
});

describe('pool exhaustion over real QUIC', () => {
  it('acquires beyond maxTotal with every connection leased fail with PoolExhausted within acquireTimeoutMs', async () => {
    const logger = pino({ level: 'silent' });
    const start = async (id: string) => {
      const e = await QuicEndpoint.start({ nodeId: id, cluster: CLUSTER, bindHost: '127.0.0.1', bindPort: 0, tls: await ca.tls(id), logger });
      endpoints.push(e);
      return e;
    };
    const [self, p1, p2, p3] = await Promise.all([start('self'), start('p1'), start('p2'), start('p3')]);
    const ACQUIRE_TIMEOUT = 300;
    const pool = new ConnectionPool<PeerConnection>({
      maxTotal: 2,
      maxPerPeer: 1,
      acquireTimeoutMs: ACQUIRE_TIMEOUT,
      dialTimeoutMs: 2000,
      dial: (peer, signal) => self.dial(peer, { signal }),
    });
    try {
      const l1 = await pool.acquire(p1.address);
      const l2 = await pool.acquire(p2.address);
      expect(pool.stats()).toMatchObject({ open: 2, inUse: 2, dials: 2 });
      // Both slots leased, nothing evictable: a third peer cannot get one.
      const t0 = Date.now();
      const err = await within(pool.acquire(p3.address).then(() => undefined, (e: unknown) => e), ACQUIRE_TIMEOUT + 2000, 'the third acquire');
      const waited = Date.now() - t0;
      expect(err).toBeInstanceOf(PoolExhausted);
      expect(waited).toBeGreaterThanOrEqual(ACQUIRE_TIMEOUT - 5);
      expect(waited).toBeLessThan(ACQUIRE_TIMEOUT + 1000);
      // An inbound connection is refused as well while nothing is idle.
      const refusedBefore = pool.stats().inboundRefused;
      const inbound = new Promise<PeerConnection>((resolve) => self.on('connection', resolve));
      await p3.dial(self.address);
      expect(pool.addInbound(await inbound)).toBe(false);
      expect(pool.stats().inboundRefused).toBe(refusedBefore + 1);
      // Another acquire of a leased peer shares its connection: the per-peer limit never blocks it.
      const shared = await within(pool.acquire(p1.address), 1000, 'a second lease on p1');
      expect(shared.connection).toBe(l1.connection);
      shared.release();
      // Once a lease is released, the waiting acquire gets the slot (evicting the idle connection).
      const waiting = pool.acquire(p3.address);
      l2.release();
      const l3 = await within(waiting, ACQUIRE_TIMEOUT + 2000, 'the acquire after a release');
      expect(l3.connection.peerId).toBe('p3');
      expect(pool.stats()).toMatchObject({ open: 2, exhausted: 1, evictions: 1 });
      l1.release();
      l3.release();
    } finally {
      await pool.close();
    }
  }, 30_000);
});
