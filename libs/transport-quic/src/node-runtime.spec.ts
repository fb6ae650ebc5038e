/**
 * NodeRuntime over real QUIC on loopback: option validation, idempotent stop, bounded
 * sends while a dial is pending, closing the connections of a peer whose probe timed
 * out, simultaneous dials settling on one connection, and a process that exits by itself
 * after stop().
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import dgram from 'node:dgram';
import { InvalidOptionError } from './errors.js';
import { NodeRuntime, resolveRuntimeLimits } from './node-runtime.js';
import { ChildNode, CLUSTER, destroyChildren, FAST, FAST_POOL, makeCa, startNode, stopAll, until, within, type Ca } from '../test/integration/support.js';

let ca: Ca;
const nodes: NodeRuntime[] = [];
const sockets: dgram.Socket[] = [];

beforeAll(async () => {
  ca = await makeCa();
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await Promise.all([stopAll(nodes.splice(0)), destroyChildren()]);
}, 20_000);

afterAll(async () => {
  await destroyChildren();
}, 20_000);

async function node(id: string, opts: Parameters<typeof startNode>[2] = {}): Promise<NodeRuntime> {
  const n = await startNode(ca, id, opts);
  nodes.push(n);
  return n;
}

/** A UDP socket that swallows everything: a QUIC handshake to it never completes. */
async function blackhole(): Promise<string> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  s.on('message', () => undefined);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return `127.0.0.1:${s.address().port}`;
}

describe('NodeRuntime options', () => {
  it('validates its limits with a typed error naming the key, before binding anything', async () => {
    expect(resolveRuntimeLimits({})).toEqual({ maxPendingSendsPerPeer: 64, maxPendingSends: 1024 });
    for (const [key, value] of [
      ['maxPendingSendsPerPeer', 0],
      ['maxPendingSendsPerPeer', 1.5],
      ['maxPendingSends', -1],
      ['maxPendingSends', Number.NaN],
      ['maxPendingSends', '10'],
    ] as const) {
      const err = await NodeRuntime.start({ id: 'x', cluster: CLUSTER, tls: await ca.tls('x'), [key]: value } as never).then(
        (rt) => {
          nodes.push(rt);
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InvalidOptionError);
      expect((err as InvalidOptionError).key).toBe(key);
    }
  }, 30_000);

  it('stop() is idempotent; afterwards the node is not running and its calls are harmless', async () => {
    const a = await node('a');
    const p1 = a.stop();
    const p2 = a.stop();
    expect(p2).toBe(p1);
    await within(p1, 5000, 'stop');
    expect(a.running).toBe(false);
    expect(a.isReady()).toBe(false);
    a.setTags({ x: '1' });
    a.join(['127.0.0.1:1']);
    await within(a.leave(), 1000, 'leave after stop');
    expect(a.stats().runtime.pendingSends).toBe(0);
  }, 30_000);
});

describe('NodeRuntime events', () => {
  it("hands the node's own joined event, raised inside start(), to the first member listener", async () => {
    const a = await node('a');
    const seen: string[] = [];
    a.on('member', (e) => seen.push(`${e.type}:${e.member.id}`));
    await until(() => seen.length > 0, 2000, 'early events');
    expect(seen).toEqual(['joined:a']);
  }, 30_000);
});

describe('NodeRuntime sends', () => {
  it('holds at most maxPendingSendsPerPeer messages for a peer being dialed, and fails them within the dial timeout; then backs off', async () => {
    const hole = await blackhole();
    const dialTimeoutMs = 500;
    const a = await node('a', { pool: { ...FAST_POOL, dialTimeoutMs, backoffBaseMs: 5000, backoffMaxMs: 5000 }, maxPendingSendsPerPeer: 8 });
    // Each join sends a push-pull to the seed: 50 sends while the one dial hangs.
    for (let i = 0; i < 50; i++) a.join([hole]);
    let s = a.stats().runtime;
    expect(s.pendingSends).toBe(8);
    expect(s.sendFailuresBy.queueFull).toBe(42);
    expect(a.stats().pool).toMatchObject({ dialing: 1, pending: 1 });
    await until(() => a.stats().runtime.pendingSends === 0, dialTimeoutMs + 2000, 'the held sends to fail');
    s = a.stats().runtime;
    expect(s.sendFailuresBy.dialTimeout + s.sendFailuresBy.dialFailed).toBe(8);
    expect(s.maxSendWaitMs).toBeGreaterThanOrEqual(dialTimeoutMs - 50);
    expect(s.maxSendWaitMs).toBeLessThan(dialTimeoutMs + 1000);
    // Backing off: the next send fails at once, no new dial.
    const dials = a.stats().pool.dials;
    a.join([hole]);
    await until(() => a.stats().runtime.sendFailuresBy.unreachable === 1, 1000, 'a PeerUnreachable failure');
    expect(a.stats().pool.dials).toBe(dials);
    expect(a.stats().runtime.pendingSends).toBe(0);
  }, 30_000);

  it('closes the connection to an unresponsive member (probe timed out, suspected) and the next send dials afresh', async () => {
    const a = await node('a');
    // b probes slowly, so that a is the one to judge: b would otherwise find a unresponsive too
    // and, on a loaded machine, close the connection first — then a's later message dials
    // afresh, and the connection a should close is one that opened after its judgement.
    const b = await node('b', { seeds: [a.address], config: { probeIntervalMs: 5000, probeTimeoutMs: 2500 } });
    await until(() => a.member('b')?.state === 'alive' && b.member('a')?.state === 'alive', 5000, 'a and b to converge');
    await until(() => a.connections().length === 1, 5000, 'one connection');
    const before = a.stats();
    a.faults.blockAddress(b.address); // b's frames never reach a's protocol, a's never leave
    await until(() => a.stats().runtime.peerCloses > before.runtime.peerCloses, 5000, 'a to close its connection to b');
    expect(a.stats().pool.peerClosed).toBeGreaterThan(before.pool.peerClosed);
    await until(() => a.stats().pool.dials > before.pool.dials, 5000, 'a to dial b again');
    a.faults.clear();
    await until(() => a.member('b')?.state === 'alive' && b.member('a')?.state === 'alive' && a.stats().swim.probeSuccesses > before.swim.probeSuccesses, 10_000, 'a and b alive again');
  }, 30_000);

  it('with a pool smaller than the cluster, probes to members whose connection was closed go as datagrams under the kept keys: no dial per probe', async () => {
    const config = { pushPullIntervalMs: 60_000 };
    const b = await node('b', { config });
    const c = await node('c', { config, seeds: [b.address] });
    const d = await node('d', { config, seeds: [b.address] });
    const a = await node('a', { config, seeds: [b.address], pool: { ...FAST_POOL, maxTotal: 1 } });
    const all = [a, b, c, d];
    await until(() => all.every((n) => all.every((m) => n.member(m.id)?.state === 'alive')), 10_000, 'all four alive everywhere');
    // Once a has had a connection to each (its first probes, their probes of it), its keys cover them all.
    await until(() => a.stats().endpoint.datagramPeers === 3, 10_000, 'a to hold keys for b, c and d');
    const before = a.stats();
    let maxOpen = 0;
    await until(() => {
      maxOpen = Math.max(maxOpen, a.connections().length);
      return a.stats().swim.probeSuccesses >= before.swim.probeSuccesses + 12;
    }, 15_000, 'twelve more probes by a');
    const after = a.stats();
    expect(maxOpen).toBeLessThanOrEqual(1);
    // Twelve probes over three members with one connection slot: without the kept keys most would dial.
    expect(after.pool.dials - before.pool.dials).toBeLessThanOrEqual(1);
    expect(after.endpoint.datagramsOutUnconnected - before.endpoint.datagramsOutUnconnected).toBeGreaterThanOrEqual(8);
    expect(after.swim.probeFailures - before.swim.probeFailures).toBe(0);
    expect(after.swim.suspicions).toBe(0);
  }, 40_000);

  it('two nodes dialing each other at once keep the one connection the smaller id dialed', async () => {
    const a = await node('a');
    const b = await node('b');
    a.join([b.address]);
    b.join([a.address]);
    await until(() => a.isReady() && b.isReady() && a.member('b')?.state === 'alive' && b.member('a')?.state === 'alive', 5000, 'both joined');
    await until(() => a.connections().length === 1 && b.connections().length === 1, 5000, 'one connection each');
    expect(a.connections()[0]).toMatchObject({ peerId: 'b', direction: 'outbound' });
    expect(b.connections()[0]).toMatchObject({ peerId: 'a', direction: 'inbound' });
    // And it stays that way while they probe each other.
    const probes = a.stats().swim.probeSuccesses;
    await until(() => a.stats().swim.probeSuccesses >= probes + 3, 5000, 'three more probes');
    expect(a.connections()).toHaveLength(1);
    expect(a.stats().swim.probeFailures + b.stats().swim.probeFailures).toBe(0);
  }, 30_000);
});

describe('NodeRuntime process lifetime', () => {
  it('a process running a node (a peer, a dial in flight, backoff state) exits by itself after stop()', async () => {
    const peer = await node('peer');
    const hole = await blackhole();
    const child = await ChildNode.start({
      id: 'child',
      cluster: CLUSTER,
      seeds: [peer.address, hole],
      preset: 'local',
      config: FAST,
      pool: { ...FAST_POOL, dialTimeoutMs: 5000 },
      tls: await ca.tls('child'),
    });
    await until(() => peer.member('child')?.state === 'alive', 10_000, 'the child to join');
    await child.request('stop');
    const stopped = await child.waitFor((l) => l.ev === 'stopped', 5000, 'stopped');
    const exit = await within(child.exited, 5000, 'the child to exit by itself');
    expect(exit.code).toBe(0);
    expect(exit.signal).toBeNull();
    expect(exit.at - (stopped['at'] as number)).toBeLessThan(3000);
  }, 30_000);
});
