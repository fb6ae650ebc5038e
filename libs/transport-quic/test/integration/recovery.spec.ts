/**
 * Error recovery and timeouts with a peer in a child process: SIGKILL (suspected, then
 * failed; dials to it back off; restarted on the same port with the same id it reconnects,
 * refutes with a higher incarnation and is alive everywhere) and SIGSTOP (connection open,
 * no answers: probe timeouts decide, no caller hangs).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { DialEvent, NodeRuntime } from '../../src/node-runtime.js';
import {
  ChildNode,
  CLUSTER,
  destroyChildren,
  EventLog,
  FAST,
  FAST_POOL,
  failureDetectionBoundMs,
  makeCa,
  startNode,
  stopAll,
  until,
  within,
  type Ca,
  type ChildConfig,
} from './support.js';

let ca: Ca;
const nodes: NodeRuntime[] = [];

beforeAll(async () => {
  ca = await makeCa();
});

afterEach(async () => {
  await Promise.all([stopAll(nodes.splice(0)), destroyChildren()]);
}, 20_000);

afterAll(async () => {
  await destroyChildren();
}, 20_000);

/** Records the dials a node makes, with their start time. */
function recordDials(n: NodeRuntime): (DialEvent & { startedAt: number })[] {
  const out: (DialEvent & { startedAt: number })[] = [];
  n.on('dial', (e) => out.push({ ...e, startedAt: Date.now() - e.ms }));
  return out;
}

/** Two in-process nodes (a is the seed) and one child process joined through a. */
async function cluster(childId: string, childExtra: Partial<ChildConfig> = {}) {
  const log = new EventLog();
  const a = await startNode(ca, 'a');
  nodes.push(a);
  const b = await startNode(ca, 'b', { seeds: [a.address] });
  nodes.push(b);
  log.watch(a);
  log.watch(b);
  const config: ChildConfig = { id: childId, cluster: CLUSTER, seeds: [a.address], preset: 'local', config: FAST, pool: FAST_POOL, tls: await ca.tls(childId), ...childExtra };
  const child = await ChildNode.start(config);
  const ids = ['a', 'b', childId];
  await until(() => [a, b].every((n) => ids.every((id) => n.member(id)?.state === 'alive')), 10_000, 'a and b to see all three alive');
  await until(async () => (await child.members()).filter((m) => m.state === 'alive').length === 3, 10_000, `${childId} to see all three alive`);
  return { a, b, child, log, config };
}

describe('error recovery over real QUIC', () => {
  it('SIGKILL: suspected then failed; dials back off; restarted on the same port with the same id it refutes and is alive everywhere', async () => {
    const { a, b, child, log, config } = await cluster('k');
    const dials = { a: recordDials(a), b: recordDials(b) };
    const incBefore = a.member('k')!.incarnation;
    const port = child.port;

    child.signal('SIGKILL');
    const killedAt = Date.now();
    await child.exited;
    const bound = failureDetectionBoundMs(a.config, 3);
    await until(() => [a, b].every((n) => n.member('k')?.state === 'failed'), bound, `k failed at a and b within ${bound} ms`);
    const failedMs = Date.now() - killedAt;
    for (const n of ['a', 'b']) {
      const types = log.of(n, 'k').map((e) => e.type);
      // Suspected before failed, at each observer (never straight to failed).
      expect(types.indexOf('suspect')).toBeGreaterThanOrEqual(0);
      expect(types.indexOf('suspect')).toBeLessThan(types.indexOf('failed'));
    }
    // The runtime closed the connections to the dead peer instead of waiting for QUIC's idle timeout.
    expect(a.connections().some((c) => c.peerId === 'k') || b.connections().some((c) => c.peerId === 'k')).toBe(false);

    // Dials back off: the failed member is still gossiped to (gossipToTheDeadMs) and retried
    // (reconnectIntervalMs); most of those sends fail at once with PeerUnreachable, without a dial.
    const before = { a: a.stats().runtime.sendFailuresBy.unreachable + b.stats().runtime.sendFailuresBy.unreachable };
    const windowStart = Date.now();
    await until(
      () => a.stats().runtime.sendFailuresBy.unreachable + b.stats().runtime.sendFailuresBy.unreachable - before.a >= 3,
      10_000,
      'three sends to k refused by the backoff',
      () => [a.stats().runtime, b.stats().runtime],
    );
    const kDials = [...dials.a, ...dials.b].filter((d) => d.peer === child.address);
    const inWindow = kDials.filter((d) => d.startedAt >= windowStart);
    expect(kDials.length).toBeGreaterThan(0);
    expect(kDials.every((d) => !d.ok)).toBe(true);
    // Each dial is bounded by the dial timeout; each node dials k at most once at a time.
    for (const d of kDials) expect(d.ms).toBeLessThan(FAST_POOL.dialTimeoutMs! + 1000);
    // A dial's `ms` ends when the runtime sees the attempt settle, which on a loaded machine can
    // lag the pool's own timeout (after which the pool may start the next one) by tens of ms;
    // two dials at once would overlap by most of a dial (they time out after dialTimeoutMs).
    const lagMs = 100;
    for (const list of [dials.a, dials.b]) {
      const mine = list.filter((d) => d.peer === child.address).sort((x, y) => x.startedAt - y.startedAt);
      for (let i = 1; i < mine.length; i++) expect(mine[i]!.startedAt).toBeGreaterThanOrEqual(mine[i - 1]!.startedAt + mine[i - 1]!.ms - lagMs);
    }
    // No send waited longer than a dial plus an acquire.
    for (const n of [a, b]) expect(n.stats().runtime.maxSendWaitMs).toBeLessThan(FAST_POOL.dialTimeoutMs! + FAST_POOL.acquireTimeoutMs! + 1000);

    // Restart: same id, same certificate, same port.
    const restarted = await ChildNode.start({ ...config, bindPort: port });
    expect(restarted.address).toBe(child.address);
    const restartedAt = Date.now();
    await until(
      () => [a, b].every((n) => n.member('k')?.state === 'alive' && n.member('k')!.incarnation > incBefore),
      15_000,
      'k alive again at a and b with a higher incarnation',
      () => [a.member('k'), b.member('k')],
    );
    await until(async () => (await restarted.members()).filter((m) => m.state === 'alive').length === 3, 10_000, 'the restarted k to see all three alive');
    const self = (await restarted.request('self'))['self'] as { incarnation: number };
    expect(self.incarnation).toBeGreaterThan(incBefore);
    const kStats = (await restarted.request('stats'))['stats'] as { swim: { refutations: number } };
    expect(kStats.swim.refutations).toBeGreaterThanOrEqual(1);
    // Reconnected: frames flow both ways on fresh connections.
    await until(() => a.connections().some((c) => c.peerId === 'k') || a.stats().swim.probeSuccesses > 0, 5000, 'a connected to the new k');
    process.stdout.write(
      `[recovery] SIGKILL → failed at a and b in ${failedMs} ms (bound ${bound} ms); dials to k: ${kDials.length} (${inWindow.length} in the backoff window), ` +
        `refused by backoff: ${a.stats().runtime.sendFailuresBy.unreachable + b.stats().runtime.sendFailuresBy.unreachable}; ` +
        `restart → alive everywhere in ${Date.now() - restartedAt} ms at incarnation ${a.member('k')!.incarnation}\n`,
    );
  }, 60_000);

  it('SIGSTOP: probe timeouts decide (QUIC would wait a minute), no caller hangs, leave and stop stay bounded', async () => {
    // QUIC's idle timeout far above the test: only SWIM's probe timeouts can notice the pause.
    const endpoint = { maxIdleTimeoutMs: 60_000, keepAliveIntervalMs: 1000 };
    const log = new EventLog();
    const a = await startNode(ca, 'a', { endpoint });
    nodes.push(a);
    const b = await startNode(ca, 'b', { seeds: [a.address], endpoint });
    nodes.push(b);
    log.watch(a);
    log.watch(b);
    const child = await ChildNode.start({ id: 's', cluster: CLUSTER, seeds: [a.address], preset: 'local', config: FAST, pool: FAST_POOL, endpoint, tls: await ca.tls('s') });
    await until(() => [a, b].every((n) => ['a', 'b', 's'].every((id) => n.member(id)?.state === 'alive')), 10_000, 'all three alive');
    await until(() => a.connections().some((c) => c.peerId === 's') && b.connections().some((c) => c.peerId === 's'), 10_000, 'a and b connected to s');

    child.signal('SIGSTOP');
    const pausedAt = Date.now();
    const bound = failureDetectionBoundMs(a.config, 3);
    await until(() => [a, b].every((n) => n.member('s')?.state === 'failed'), bound, `s failed at a and b within ${bound} ms`);
    const failedMs = Date.now() - pausedAt;
    for (const n of ['a', 'b']) expect(log.of(n, 's', 'suspect').length).toBeGreaterThanOrEqual(1);
    // The open connections to the paused peer were closed by the runtime, long before QUIC's idle timeout.
    expect(a.connections().some((c) => c.peerId === 's')).toBe(false);
    expect(b.connections().some((c) => c.peerId === 's')).toBe(false);
    expect(a.stats().runtime.peerCloses + b.stats().runtime.peerCloses).toBeGreaterThanOrEqual(1);
    // Sends to it keep being bounded: dials time out (nobody answers the handshake) and back off.
    await until(() => a.stats().runtime.sendFailures + b.stats().runtime.sendFailures > 0, 10_000, 'a failed send to s');
    for (const n of [a, b]) {
      const r = n.stats().runtime;
      expect(r.maxSendWaitMs).toBeLessThan(FAST_POOL.dialTimeoutMs! + FAST_POOL.acquireTimeoutMs! + 1000);
      expect(r.pendingSends).toBeLessThanOrEqual(64);
    }
    // The other two still agree with each other.
    expect(a.member('b')?.state).toBe('alive');
    expect(b.member('a')?.state).toBe('alive');
    // Callers return in bounded time while the peer stays paused.
    const t0 = Date.now();
    await within(b.leave(), b.config.leaveTimeoutMs + 2000, 'b.leave()');
    const leaveMs = Date.now() - t0;
    const t1 = Date.now();
    await within(Promise.all([a.stop(), b.stop()]), 5000, 'stopping a and b');
    const stopMs = Date.now() - t1;
    expect(child.hasExited).toBe(false); // still paused, never killed by the test until cleanup
    process.stdout.write(`[recovery] SIGSTOP → failed at a and b in ${failedMs} ms (bound ${bound} ms); leave ${leaveMs} ms, stop ${stopMs} ms with the peer paused\n`);
  }, 60_000);
});
