// Docker HEALTHCHECK: exit 0 when the node's liveness endpoint answers 200, else 1.
// Follows SHOAL_HTTP (the admin API address); wildcard hosts are reached on loopback.
const LIVE_PATH = '/health/live';
const TIMEOUT_MS = 2500;
const raw = (process.env.SHOAL_HTTP || '127.0.0.1:7947').trim();
const colon = raw.lastIndexOf(':');
let host = raw.slice(0, colon).replace(/^\[|\]$/g, '');
const port = raw.slice(colon + 1);
if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
if (host === '::') host = '::1';
const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}${LIVE_PATH}`;
fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) }).then(
  (res) => process.exit(res.status === 200 ? 0 : 1),
  () => process.exit(1),
);
