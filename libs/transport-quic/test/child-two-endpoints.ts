/**
 * Child process for the "exits by itself" test: starts two endpoints, exchanges a frame
 * both ways, stops them, and returns without process.exit(). If anything (a socket, a
 * timer, a keep-alive) still held the event loop, this process would not exit.
 */
import { pino } from 'pino';
import { createClusterCa, issueNodeCertificate } from '../src/tls/ca.js';
import { QuicEndpoint } from '../src/quic-endpoint.js';
import type { PeerConnection } from '../src/peer-connection.js';

const ca = await createClusterCa();
const tls = async (nodeId: string) => ({ caPem: ca.certPem, ...(await issueNodeCertificate(ca, { nodeId })) });
const logger = pino({ level: 'silent' });
const common = { cluster: 'child', bindHost: '127.0.0.1', bindPort: 0, logger };
const a = await QuicEndpoint.start({ nodeId: 'a', tls: await tls('a'), ...common });
const b = await QuicEndpoint.start({ nodeId: 'b', tls: await tls('b'), ...common });
const inbound = new Promise<PeerConnection>((r) => b.on('connection', r));
const out = await a.dial(b.address);
const inb = await inbound;
inb.on('message', (m) => inb.send(m));
const echoed = new Promise<Uint8Array>((r) => out.on('message', r));
out.send(new TextEncoder().encode('ping'));
const reply = new TextDecoder().decode(await echoed);
await Promise.all([a.stop(), b.stop()]);
await a.stop(); // idempotent
process.stdout.write(`exchanged ${reply}\nstopped ${Date.now()}\n`);
