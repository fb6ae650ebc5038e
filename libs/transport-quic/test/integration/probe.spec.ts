/**
 * Real QUIC on loopback, nodes in this process: ping/ack between two nodes, the indirect
 * ping through a helper when the direct path is blocked, and connection reuse.
 */
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { NodeRuntime } from '../../src/node-runtime.js';
import { allAlive, EventLog, makeCa, startNode, stopAll, until, type Ca } from './support.js';

let ca: Ca;
const nodes: NodeRuntime[] = [];

beforeAll(async () => {
  ca = await makeCa();
});

afterEach(async () => {
  await stopAll(nodes.splice(0));
}, 20_000);

async function node(id: string, seeds: string[] = [], extra: Parameters<typeof startNode>[2] = {}): Promise<NodeRuntime> {
  const n = await startNode(ca, id, { seeds, ...extra });
  nodes.push(n);
  return n;
}

describe('probe over real QUIC', () => {
  it('ping/ack: two nodes join, probe each other, and every probe is acked directly', async () => {
    const a = await node('a');
    const b = await node('b', [a.address]);
    await until(() => allAlive([a, b], ['a', 'b']) && b.isReady(), 5000, 'a and b to see each other alive');
    // Round-trip samples are handed over once: take them on every read.
    const rtts: number[] = [];
    const read = (n: NodeRuntime) => {
      rtts.push(...n.takeRttSamples());
      return n.stats();
    };
    const before = { a: read(a).swim, b: read(b).swim };
    await until(
      () => read(a).swim.probeSuccesses - before.a.probeSuccesses >= 5 && read(b).swim.probeSuccesses - before.b.probeSuccesses >= 5,
      8000,
      '5 acked probes each way',
    );
    for (const n of [a, b]) {
      const s = read(n);
      expect(s.swim.probeFailures).toBe(0);
      expect(s.swim.received.ack).toBeGreaterThanOrEqual(5);
      expect(s.swim.received.ping).toBeGreaterThanOrEqual(5);
      expect(s.runtime.indirectAcks).toBe(0);
      expect(s.runtime.malformed + s.runtime.spoofed + s.runtime.sendFailures).toBe(0);
      // Probes travel as sealed datagrams (the default); the join's push-pull as frames.
      expect(s.endpoint.datagramsIn).toBeGreaterThanOrEqual(10);
      expect(s.endpoint.datagramsUnknownKey + s.endpoint.datagramsBadTag + s.endpoint.datagramsReplayed).toBe(0);
    }
    // Round trips over QUIC on loopback take milliseconds: the median is far below the probe
    // timeout (single samples may not be, on a busy shared machine).
    expect(rtts.length).toBeGreaterThanOrEqual(10);
    const sorted = [...rtts].sort((x, y) => x - y);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    expect(median).toBeLessThan(a.config.probeTimeoutMs / 2);
    process.stdout.write(`[probe] direct probe round trip over QUIC: median ${median} ms, max ${sorted[sorted.length - 1]} ms (${sorted.length} samples)\n`);
  }, 20_000);

  it('indirect ping: with A↔C blocked both ways, A gets C’s acks through B and never suspects C', async () => {
    const log = new EventLog();
    // A longer period than the timeout leaves the helper 350 ms for its relay on a busy machine.
    const slower = { config: { probeIntervalMs: 500, probeTimeoutMs: 150 } };
    const a = await node('a', [], slower);
    const b = await node('b', [a.address], slower);
    const c = await node('c', [a.address], slower);
    for (const n of [a, b, c]) log.watch(n);
    await until(() => allAlive([a, b, c], ['a', 'b', 'c']), 8000, 'a, b, c to converge');
    // Block the direct path at both ends (frames to and from the other's address are dropped).
    a.faults.blockAddress(c.address);
    c.faults.blockAddress(a.address);
    const start = { a: a.stats(), b: b.stats() };
    const aDroppedBefore = start.a.endpoint.faultDropped;
    // A probes C about every other period (3 members); wait for several indirect round trips.
    await until(() => a.stats().runtime.indirectAcks - start.a.runtime.indirectAcks >= 4, 15_000, 'A to receive 4 acks relayed by B', () => a.stats().runtime);
    const end = { a: a.stats(), b: b.stats() };
    expect(end.a.endpoint.faultDropped).toBeGreaterThan(aDroppedBefore); // the block did drop A's direct pings
    expect(end.a.swim.indirectProbes - start.a.swim.indirectProbes).toBeGreaterThanOrEqual(4); // A asked helpers
    expect(end.b.swim.received['ping-req'] - start.b.swim.received['ping-req']).toBeGreaterThanOrEqual(4); // B was the helper
    // Every probe A made in the window was acked (directly to B, via B for C): no failed probe, no suspicion.
    expect(end.a.swim.probeFailures).toBe(start.a.swim.probeFailures);
    expect(log.of('a', 'c', 'suspect')).toEqual([]);
    expect(log.of('a', 'c', 'failed')).toEqual([]);
    expect(a.member('c')?.state).toBe('alive');
    expect(c.member('a')?.state).toBe('alive');
  }, 30_000);

  it('connection reuse: many probe periods between two nodes use one connection (one dial in total)', async () => {
    const a = await node('a');
    const b = await node('b', [a.address]);
    await until(() => allAlive([a, b], ['a', 'b']) && b.isReady(), 5000, 'a and b to converge');
    const periods = 20;
    await until(() => a.stats().swim.probes >= periods && b.stats().swim.probes >= periods, periods * a.config.probeIntervalMs * 3, `${periods} probes each`);
    const sa = a.stats();
    const sb = b.stats();
    // B dialed A once to join; everything since went over that connection, both ways.
    expect(sa.pool.dials + sb.pool.dials).toBe(1);
    expect(sa.endpoint.inboundTotal + sa.endpoint.outboundTotal).toBe(1);
    expect(sb.endpoint.inboundTotal + sb.endpoint.outboundTotal).toBe(1);
    expect(sa.pool.open).toBe(1);
    expect(sb.pool.open).toBe(1);
    expect(sa.swim.probeSuccesses).toBeGreaterThanOrEqual(periods - 1);
    expect(sb.swim.probeSuccesses).toBeGreaterThanOrEqual(periods - 1);
  }, 30_000);
});
