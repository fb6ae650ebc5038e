export * from './errors.js';
export * from './framing.js';
export * from './tls/ca.js';
export * from './tls/verify.js';
export * from './tls/files.js';
export { cryptoCodeFor, reasonForCryptoCode } from './tls/alerts.js';
export * from './peer-connection.js';
export * from './quic-endpoint.js';
export * from './datagrams.js';
export { DatagramKeyring, KEPT_CLOSED_RECEIVE_KEYS, type DatagramPeer, type DatagramRoute, type DatagramKeyringOptions } from './datagram-keyring.js';
export * from './deadline-timer.js';
export { runCertsCli, CERTS_USAGE, type CertsCliIo } from './certs-cli.js';
export {
  ConnectionPool,
  POOL_DEFAULTS,
  PoolError,
  PoolExhausted,
  PeerUnreachable,
  PoolClosed,
  PoolConfigError,
  InvalidPeer,
  DialTimeout as PoolDialTimeout,
  DialFailed as PoolDialFailed,
  type ConnectionPoolOptions,
  type PoolStats,
  type Lease,
  type PoolConnection,
  type InboundPolicy,
} from './connection-pool.js';
export * from './node-runtime.js';
