/**
 * Measurements over loopback (run: `npx nx run transport-quic:measure`, or
 * `node --expose-gc --import ./test/register-ts.mjs test/measure.ts` from the project dir):
 *  - handshake + hello time of a dial (median of 20 fresh dials);
 *  - small-frame round trip p50 / p99 over one connection (1,000 sequential round trips);
 *  - RSS per idle connection: 50 connections between two endpoints in this process.
 * Prints one JSON object.
 */
import { pino } from 'pino';
import { createClusterCa, issueNodeCertificate } from '../src/tls/ca.js';
import { QuicEndpoint } from '../src/quic-endpoint.js';
import type { PeerConnection } from '../src/peer-connection.js';

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const round = (x: number) => Math.round(x * 1000) / 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ca = await createClusterCa();
const tls = async (nodeId: string) => ({ caPem: ca.certPem, ...(await issueNodeCertificate(ca, { nodeId })) });
const common = { cluster: 'measure', bindHost: '127.0.0.1', bindPort: 0, logger: pino({ level: 'silent' }) };
const a = await QuicEndpoint.start({ nodeId: 'a', tls: await tls('a'), ...common });
const b = await QuicEndpoint.start({ nodeId: 'b', tls: await tls('b'), ...common });
b.on('connection', (c: PeerConnection) => c.on('message', (m) => c.send(m)));

// RSS per idle connection: measured first, before any connection churn (freed memory is not returned to the OS).
const warm = await a.dial(b.address); // loads the code paths; kept open
gc();
await sleep(200);
gc();
const before = process.memoryUsage().rss;
const conns: PeerConnection[] = [];
for (let i = 0; i < 50; i++) conns.push(await a.dial(b.address));
await sleep(500);
gc();
await sleep(200);
gc();
const after = process.memoryUsage().rss;
await Promise.all([...conns, warm].map((c) => c.close()));

// Handshake + hello.
const dialMs: number[] = [];
for (let i = 0; i < 20; i++) {
  const t0 = performance.now();
  const c = await a.dial(b.address);
  dialMs.push(performance.now() - t0);
  await c.close();
}

// Round trips on one connection.
const conn = await a.dial(b.address);
const payload = new Uint8Array(64);
let waiter: (() => void) | undefined;
conn.on('message', () => waiter?.());
const rtt: number[] = [];
for (let i = 0; i < 1100; i++) {
  const t0 = performance.now();
  await new Promise<void>((r) => {
    waiter = r;
    conn.send(payload);
  });
  if (i >= 100) rtt.push(performance.now() - t0); // first 100 are warm-up
}
await conn.close();
await sleep(200);

await Promise.all([a.stop(), b.stop()]);

process.stdout.write(
  `${JSON.stringify(
    {
      handshakeHelloMs: { p50: round(pct(dialMs, 50)), min: round(Math.min(...dialMs)), max: round(Math.max(...dialMs)) },
      roundTripMs: { n: rtt.length, p50: round(pct(rtt, 50)), p99: round(pct(rtt, 99)), max: round(Math.max(...rtt)) },
      idleConnections: 50,
      rssPerIdleConnectionKiB: Math.round((after - before) / 50 / 1024),
      note: 'each connection counted once per process although both of its ends live here (one outbound + one inbound)',
    },
    null,
    2,
  )}\n`,
);
