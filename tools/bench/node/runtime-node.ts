/**
 * A membership node WITHOUT NestJS, for the idle-memory comparison only: the transport's
 * NodeRuntime (QUIC, mutual TLS, the protocol core), pino JSON logs on stdout, and a
 * node:http server answering GET /health/ready — what the app does at idle, minus the
 * framework. Not a product; it has no admin API beyond readiness.
 *
 *   node runtime-node.js <id> <ca.pem> <cert.pem> <key.pem>
 *
 * Prints one `node.started` JSON line ({ gossip, admin }) and runs until SIGTERM/SIGINT.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { NodeRuntime } from '@shoal/transport-quic';

const [id, caPath, certPath, keyPath] = process.argv.slice(2);
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
  tls: { caPem: readFileSync(caPath, 'utf8'), certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8') },
  logger: log,
});
rt.on('error', (e: unknown) => log.warn({ err: String(e) }, 'runtime error'));
const server = http.createServer((req, res) => {
  const ok = req.url === '/health/ready';
  res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' });
  res.end(ok ? '{"status":"ok"}' : '{}');
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
