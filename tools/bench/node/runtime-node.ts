/**
 * A membership node WITHOUT NestJS, for the idle-memory comparison only: the transport's
 * NodeRuntime (QUIC, mutual TLS, the protocol core), pino JSON logs on stdout, and a
 * node:http server answering GET /health/ready and GET /v1/members?state=alive — what the
 * app does, minus the framework: the benchmark's "transport only" node, run in the same
 * cluster setup as the app. Not a product.
 *
 *   node runtime-node.js <id> <ca.pem> <cert.pem> <key.pem> [seed,seed…]
 *
 * Prints one `node.started` JSON line ({ gossip, admin }) and runs until SIGTERM/SIGINT.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { NodeRuntime } from '@shoal/transport-quic';

const [id, caPath, certPath, keyPath, seedList] = process.argv.slice(2);
if (!id || !caPath || !certPath || !keyPath) {
  process.stderr.write('usage: runtime-node.js <id> <ca.pem> <cert.pem> <key.pem>\n');
  process.exit(2);
}
const log = pino({ base: { pid: process.pid, node: id } }, pino.destination({ dest: 1, sync: true }));
const rt = await NodeRuntime.start({
  id,
  cluster: 'bench',
  bindHost: '127.0.0.1',
  bindPort: 0,
  preset: 'lan',
  seeds: seedList ? seedList.split(',').filter(Boolean) : [],
  tls: { caPem: readFileSync(caPath, 'utf8'), certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8') },
  logger: log,
});
rt.on('error', (e: unknown) => log.warn({ err: String(e) }, 'runtime error'));
const server = http.createServer((req, res) => {
  const url = req.url ?? '';
  res.setHeader('content-type', 'application/json');
  if (url === '/health/ready') {
    res.writeHead(rt.isReady() ? 200 : 503).end('{"status":"ok"}');
  } else if (url === '/v1/members?state=alive') {
    res.writeHead(200).end(JSON.stringify({ node: id, members: rt.members({ states: ['alive'] }).map((m) => ({ id: m.id })) }));
  } else {
    res.writeHead(404).end('{}');
  }
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;
log.info({ event: 'node.started', gossip: rt.address, admin: `http://127.0.0.1:${port}` }, 'node started');
let stopping = false;
const stop = async () => {
  if (stopping) process.exit(1);
  stopping = true;
  server.close();
  await rt.stop().catch(() => undefined);
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
