/**
 * Admission and hostile input over real QUIC: nodes holding a certificate from another CA
 * are refused (and counted) and never appear in any member list; random UDP datagrams to
 * a node's port and malformed frames on an admitted stream leave every node running and
 * the membership unchanged.
 */
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { pino } from 'pino';
import { encode, PROTOCOL_VERSION, type Member } from '@shoal/core';
import type { NodeRuntime } from '../../src/node-runtime.js';
import { QuicEndpoint } from '../../src/quic-endpoint.js';
import { allAlive, CLUSTER, EventLog, makeCa, startNode, stopAll, until, type Ca } from './support.js';

let ca: Ca;
const nodes: NodeRuntime[] = [];
const endpoints: QuicEndpoint[] = [];
const sockets: dgram.Socket[] = [];

beforeAll(async () => {
  ca = await makeCa();
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await Promise.all([stopAll(nodes.splice(0)), ...endpoints.splice(0).map((e) => e.stop())]);
}, 20_000);

async function node(id: string, opts: Parameters<typeof startNode>[2] = {}): Promise<NodeRuntime> {
  const n = await startNode(ca, id, opts);
  nodes.push(n);
  return n;
}

/** id → "state@incarnation" for one node's view. */
function view(n: NodeRuntime): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of n.members() as Member[]) out[m.id] = `${m.state}@${m.incarnation}`;
  return out;
}

describe('TLS admission', () => {
  it('nodes with a certificate from another CA are refused, counted, and never members anywhere', async () => {
    const a = await node('a');
    const b = await node('b', { seeds: [a.address] });
    await until(() => allAlive([a, b], ['a', 'b']), 5000, 'a and b to converge');
    const other = await makeCa();
    // rogue1 trusts our CA but holds a certificate of another CA: a refuses it.
    const foreign = await other.tls('rogue1');
    const rogue1 = await node('rogue1', {
      seeds: [a.address, b.address],
      tls: { caPem: ca.pair.certPem, certPem: foreign.certPem, keyPem: foreign.keyPem },
      endpoint: { allowInvalidOwnCertificate: true },
    });
    // rogue2 lives entirely in the other CA: it refuses our certificates (and we never see its).
    const rogue2 = await node('rogue2', { seeds: [a.address], tls: await other.tls('rogue2') });
    const refusedBefore = a.stats().endpoint.tlsRejected + b.stats().endpoint.tlsRejected;
    await until(
      () => rogue1.stats().swim.joinAttempts >= 3 && rogue2.stats().swim.joinAttempts >= 3,
      10_000,
      'three join attempts by each rogue',
      () => [rogue1.stats().swim.joinAttempts, rogue2.stats().swim.joinAttempts],
    );
    await until(() => a.stats().endpoint.tlsRejected >= 1 && rogue2.stats().endpoint.tlsRejected >= 1, 5000, 'refusals to be counted');
    expect(refusedBefore).toBe(0);
    for (const n of [a, b]) {
      expect(Object.keys(view(n)).sort()).toEqual(['a', 'b']);
      expect(n.connections().map((c) => c.peerId).filter((id) => id.startsWith('rogue'))).toEqual([]);
      expect(n.stats().endpoint.inboundTotal + n.stats().endpoint.outboundTotal).toBeGreaterThan(0);
    }
    for (const r of [rogue1, rogue2]) {
      expect(Object.keys(view(r))).toEqual([r.id]);
      expect(r.isReady()).toBe(false);
      expect(r.stats().endpoint.inboundTotal + r.stats().endpoint.outboundTotal).toBe(0);
      expect(r.stats().runtime.sendFailuresBy.dialFailed + r.stats().runtime.sendFailuresBy.unreachable).toBeGreaterThan(0);
    }
    process.stdout.write(
      `[tls] refused: a counted ${a.stats().endpoint.tlsRejected} (rogue1's certificate), rogue2 counted ${rogue2.stats().endpoint.tlsRejected} (our certificates)\n`,
    );
  }, 30_000);
});

describe('garbage input', () => {
  it('random UDP datagrams and malformed frames on an admitted stream leave every node running and the membership unchanged', async () => {
    const log = new EventLog();
    // "Unchanged" must not depend on timing luck: a probe timeout well above event-loop
    // stalls of a busy machine (the flood below runs in this process too).
    const config = { probeIntervalMs: 500, probeTimeoutMs: 300 };
    // A small frame limit on a, so that an over-size frame can be sent to it.
    const a = await node('a', { config, endpoint: { maxFrameBytes: 64 * 1024 } });
    const b = await node('b', { config, seeds: [a.address] });
    const c = await node('c', { config, seeds: [a.address] });
    const all = [a, b, c];
    await until(() => allAlive(all, ['a', 'b', 'c']), 8000, 'a, b, c to converge');
    for (const n of all) log.watch(n);
    const before = all.map(view);
    const probesBefore = all.map((n) => n.stats().swim.probeSuccesses);
    const port = Number(a.address.split(':')[1]);

    // 1. Random datagrams to a's UDP port: plain random bytes, and random bytes behind a
    //    QUIC long-header first byte (they look like Initial / Handshake packets).
    const sock = dgram.createSocket('udp4');
    sockets.push(sock);
    const send = (buf: Buffer) => new Promise<void>((resolve) => sock.send(buf, port, '127.0.0.1', () => resolve()));
    const DATAGRAMS = 2000;
    for (let i = 0; i < DATAGRAMS; i++) {
      const buf = randomBytes(1 + Math.floor(Math.random() * 1400));
      if (i % 2 === 1) buf[0] = 0xc0 | (buf[0]! & 0x3f);
      await send(buf);
      if (i % 100 === 99) await new Promise((r) => setImmediate(r));
    }

    // 2. An admitted connection (a certificate of this cluster) that sends malformed frames.
    const g = await QuicEndpoint.start({ nodeId: 'g', cluster: CLUSTER, bindHost: '127.0.0.1', bindPort: 0, tls: await ca.tls('g'), logger: pino({ level: 'silent' }) });
    endpoints.push(g);
    const conn = await g.dial(a.address);
    const ping = encode({ type: 'ping', from: 'g', addr: g.address, seq: 1, target: 'a', updates: [] });
    const malformed: Uint8Array[] = [
      new Uint8Array(0),
      Uint8Array.of(0xff),
      Uint8Array.of(PROTOCOL_VERSION, 0x63), // unknown type
      ping.subarray(0, ping.length - 3), // truncated
      Uint8Array.from([PROTOCOL_VERSION, 1, ...randomBytes(40)]), // a ping header over a random body
    ];
    for (let i = 0; i < 200; i++) malformed.push(randomBytes(1 + Math.floor(Math.random() * 300)));
    const malformedBefore = a.stats().runtime.malformed;
    // Small messages travel as datagrams: paced, so the burst does not overflow a's socket buffer.
    for (let i = 0; i < malformed.length; i++) {
      conn.send(malformed[i]!);
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 2));
    }
    // Well-formed messages that claim someone else's identity: b "reports" c failed.
    const spoofedBefore = a.stats().runtime.spoofed;
    conn.send(encode({ type: 'gossip', from: 'b', addr: b.address, updates: [{ id: 'c', address: c.address, incarnation: 99, state: 'failed' }] }));
    conn.send(encode({ type: 'push-pull', from: 'g', addr: b.address, join: true, reply: false, members: [{ id: 'a', address: a.address, incarnation: 50, state: 'left' }] }));
    await until(() => a.stats().runtime.malformed - malformedBefore >= malformed.length - 10 && a.stats().runtime.spoofed - spoofedBefore >= 2, 5000, 'a to drop the malformed and spoofed messages', () => a.stats().runtime);
    expect(conn.closed).toBe(false); // undecodable messages are dropped; the connection stays
    // An over-size frame closes that connection (and only that one).
    const badBefore = a.stats().endpoint.badFrames;
    conn.send(randomBytes(100 * 1024));
    await until(() => conn.closed && a.stats().endpoint.badFrames > badBefore, 5000, 'a to close the connection carrying an over-size frame');

    // Every node keeps probing successfully for a few more periods, and nothing changed.
    await until(() => all.every((n, i) => n.stats().swim.probeSuccesses >= probesBefore[i]! + 4), 15_000, 'four more acked probes per node');
    for (const n of all) expect(n.running).toBe(true);
    expect(all.map(view)).toEqual(before);
    expect(log.events.map((e) => `${e.observer}:${e.event.type}:${e.event.member.id}`)).toEqual([]);
    expect(a.member('g')).toBeUndefined();
    process.stdout.write(
      `[garbage] ${DATAGRAMS} datagrams, ${malformed.length} malformed + 2 spoofed messages, 1 over-size frame: a counted malformed=${a.stats().runtime.malformed} spoofed=${a.stats().runtime.spoofed} badFrames=${a.stats().endpoint.badFrames}; membership unchanged\n`,
    );
  }, 40_000);
});
