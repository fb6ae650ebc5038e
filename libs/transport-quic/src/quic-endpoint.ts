/**
 * A node's QUIC endpoint: one UDP socket (QUICSocket) shared by the QUICServer that
 * accepts peers and every QUICClient this node dials, so a node is reachable on one
 * port and its outgoing packets leave from it.
 *
 * Admission of a connection, both directions:
 *  1. mutual TLS: each side checks the other's certificate against the cluster CA in a
 *     js-quic `verifyCallback` (verifyPeerChain): the node id comes from the certificate;
 *  2. application hello on the connection's single bidirectional stream (the dialer
 *     opens it): {cluster, nodeId, address, protocolVersion}; the answer carries the
 *     same from the other side. The node id in the hello must equal the certificate's,
 *     the cluster and protocol version must match.
 * Only then is the connection handed out: `dial()` resolves / 'connection' fires.
 *
 * Robustness: every js-quic event handler catches its own exceptions (an exception in
 * one becomes an uncaught exception); bad frames close only their connection; random
 * UDP datagrams are ignored by js-quic's packet parser, and those that pass it and fail
 * inside js-quic are caught and counted (`packetErrors`). Refusals are counted and logged
 * once per (peer address, reason).
 *
 * Sealed datagrams (datagrams.ts, option `datagrams`, on by default): each side's hello
 * carries a key for what it receives; once admitted, messages up to
 * `maxDatagramPayloadBytes` go as single sealed UDP datagrams on the same socket instead
 * of stream frames. The endpoint takes every datagram off the socket first, keeps its own
 * (marker byte with QUIC's fixed bit clear) and hands all others to js-quic unchanged.
 * A peer's keys outlive the connection they were agreed on (datagram-keyring.ts): after
 * the pool closes it, `sendDatagram()` still reaches the peer and what it sends comes out
 * as 'datagram' events, until the runtime forgets the keys or they age out.
 *
 * Relies on three js-quic 2.0.9 internals, all guarded: a QUICStream's `connection`
 * field (to tie a server-level stream event to its connection), wrapping
 * `QUICServer.acceptConnection` (the only place that knows the address of a peer whose
 * certificate we refused), and QUICSocket's `socket` (the dgram socket) with its
 * `handleSocketMessage` listener, for the datagram demultiplexer. Without the last one the
 * endpoint offers no datagram key and everything travels on streams.
 */
import { webcrypto } from 'node:crypto';
import type dgram from 'node:dgram';
import { isIP } from 'node:net';
import os from 'node:os';
import Logger, { Handler, LogLevel, type LogRecord } from '@matrixai/logger';
import { QUICClient, QUICServer, QUICSocket, errors as quicErrors, events as quicEvents } from '@matrixai/quic';
import type { QUICConnection, QUICStream, QUICClientConfigInput, QUICServerConfigInput } from '@matrixai/quic';
import { pino, type Logger as PinoLogger } from 'pino';
import {
  DialFailed,
  DialTimeout,
  EndpointStopped,
  HandshakeRejected,
  HelloRejected,
  InvalidAddressError,
  InvalidOptionError,
} from './errors.js';
import {
  DEFAULT_MAX_DATAGRAM_PAYLOAD_BYTES,
  type DatagramKeyOffer,
  type DatagramSealer,
  MAX_DATAGRAM_PAYLOAD_BYTES,
  datagramKeyId,
  isSealedDatagram,
  offerFromJson,
  offerToJson,
} from './datagrams.js';
import type { Clock } from '@shoal/core';
import { DatagramKeyring, type DatagramPeer } from './datagram-keyring.js';
import { preciseClock } from './deadline-timer.js';
import { DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_QUEUED_BYTES, FRAME_HEADER_BYTES, validateMaxFrameBytes } from './framing.js';
import { HelloAborted, HelloTimeout, PeerConnection, type CloseReason, type TransportCounters, newCounters, reasonFromQuicError } from './peer-connection.js';
import { cryptoCodeFor, reasonForCryptoCode } from './tls/alerts.js';
import { isValidNodeId, parseCertificatePem } from './tls/certificate.js';
import { type PeerVerifyResult, createPeerVerifier } from './tls/verify.js';

/** Version of the hello exchange and framing; peers with another version are refused. */
export const TRANSPORT_PROTOCOL_VERSION = 1;
/** ALPN protocol id both sides must offer. */
export const ALPN = 'shoal/1';
/** Largest hello / hello answer accepted. */
export const MAX_HELLO_BYTES = 4096;

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 2000;
export const DEFAULT_HELLO_TIMEOUT_MS = 2000;
/**
 * QUIC idle timeout and keep-alive. Trade-off: each keep-alive is one small packet
 * (about 50 bytes on the wire) per interval per idle connection, in each direction;
 * the idle timeout is how long a dead or restarted peer's connection lingers (writes
 * to it only buffer, they never fail). SWIM's own probe timeouts decide failure; these
 * only reclaim dead connections. The smaller idle timeout of the two sides wins.
 * Defaults with datagrams off: keep-alive off and a 60 s idle timeout, above the pool's 30 s idle close, so
 * the pool (not QUIC) retires quiet connections and the runtime closes dead peers' ones
 * on probe timeouts. Measured in a 20-node lan cluster (tools/bench/transport): a 2 s
 * keep-alive cost 2.56 % CPU and 1,103 B/s per node, keep-alive off 0.84 % and 285 B/s.
 */
export const DEFAULT_MAX_IDLE_TIMEOUT_MS = 60_000;
/**
 * QUIC idle timeout when datagrams are on (the default): 0, never. Probes then travel as
 * datagrams that QUIC does not see, so QUIC's idle timer would close busy connections
 * (measured: a 20-node cluster would redial every pair each minute). Quiet connections
 * are retired by the pool's idleTimeoutMs; dead peers' ones by the runtime on probe
 * timeouts, suspicion and failure.
 */
export const DEFAULT_MAX_IDLE_TIMEOUT_MS_WITH_DATAGRAMS = 0;
export const DEFAULT_KEEP_ALIVE_INTERVAL_MS = 0;
/** Peers whose datagram keys outlive their connections (datagram-keyring.ts): about half a KiB each. */
export const DEFAULT_MAX_DATAGRAM_PEERS = 1024;
export const MAX_DATAGRAM_PEERS = 100_000;
/** A peer's datagram key is used for an hour after it was agreed, then re-keyed by a new connection. */
export const DEFAULT_DATAGRAM_KEY_MAX_AGE_MS = 3_600_000;
export const MAX_DATAGRAM_KEY_MAX_AGE_MS = 7 * 86_400_000;
const MAX_TIMEOUT_MS = 600_000;
const MAX_IDLE_MS = 86_400_000;
/** How long a rejected hello waits for its answer to reach the stream before closing. */
const REJECT_FLUSH_MS = 200;
/** After a negative answer, how long we let the dialer hang up first (it closes once it reads the answer). */
const REJECT_LINGER_MS = 500;
/** Distinct (kind, address, reason) refusals remembered for log-once; cleared when full. */
const MAX_LOGGED_REFUSALS = 4096;
const CLUSTER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface QuicEndpointOptions {
  nodeId: string;
  cluster: string;
  bindHost: string;
  /** 0 picks a free port. */
  bindPort: number;
  /** "host:port" others reach us at; default: bind host + actual port (a wildcard bind host becomes the first non-internal IPv4, else 127.0.0.1). Port 0 means the actual port. */
  advertise?: string;
  tls: { caPem: string; certPem: string; keyPem: string };
  /** Largest frame payload, both directions (default 4 MiB). */
  maxFrameBytes?: number;
  /** Send queue bound per connection; overflow closes the connection (default 16 MiB). */
  maxQueuedBytes?: number;
  /** QUIC + TLS handshake bound for dials and accepted connections (default 2000). */
  handshakeTimeoutMs?: number;
  /** Bound on the hello exchange after the handshake (default 2000). */
  helloTimeoutMs?: number;
  /** QUIC idle timeout; 0 = never (default 0 with datagrams, else 60000). See DEFAULT_MAX_IDLE_TIMEOUT_MS(_WITH_DATAGRAMS). */
  maxIdleTimeoutMs?: number;
  /** Send small messages as sealed datagrams beside QUIC (datagrams.ts). Default true. */
  datagrams?: boolean;
  /** Largest message sent as one datagram; larger ones go on the stream (default 1171: 1,200 bytes of UDP payload). */
  maxDatagramPayloadBytes?: number;
  /**
   * Peers whose datagram keys are kept after their connection closed, so that small
   * messages to them need no new connection (datagram-keyring.ts); least recently used
   * dropped first. 0: keys die with their connection. Default 1024.
   */
  maxDatagramPeers?: number;
  /** How long a peer's datagram key is used after it was agreed; then the next message dials and re-keys (default 3,600,000: one hour). */
  datagramKeyMaxAgeMs?: number;
  /** QUIC keep-alive ping interval; 0 = off; must be < maxIdleTimeoutMs when both are set (default 0). */
  keepAliveIntervalMs?: number;
  /** Structured logs; js-quic's own logger is forwarded here at WARN and above. */
  logger?: PinoLogger;
  /** Stamps each datagram's arrival (passed on with the message); default preciseClock(). NodeRuntime passes its own clock. */
  clock?: Clock;
  /**
   * Start even if our own certificate does not verify against the CA or names another
   * node (logged as a warning). Default false. Only for tests that simulate a misconfigured peer.
   */
  allowInvalidOwnCertificate?: boolean;
}

/** The endpoint's own counters on top of the frame counters it shares with its connections. */
export interface QuicEndpointStats extends TransportCounters {
  /** Admitted connections open now. */
  inbound: number;
  outbound: number;
  /** Admitted connections since start. */
  inboundTotal: number;
  outboundTotal: number;
  /** Peer certificates we refused (both directions). */
  tlsRejected: number;
  /** Hellos we refused or that never came (both directions). */
  helloRejected: number;
  /** Dials that failed for any reason. */
  dialFailures: number;
  /** Extra streams a peer opened on an admitted connection (refused). */
  extraStreams: number;
  /** Datagrams js-quic's packet handler failed on (garbage that passed its parser); dropped. */
  packetErrors: number;
  /** Peers whose datagram keys are kept (datagram-keyring.ts). */
  datagramPeers: number;
  /** Messages sent / received as datagrams to or from a peer with no open connection. */
  datagramsOutUnconnected: number;
  datagramsInUnconnected: number;
}

export interface EndpointFaults {
  /** Drop outgoing frames to, and incoming frames from, this "host:port" (advertised or UDP source). */
  blockAddress(address: string): void;
  unblockAddress(address: string): void;
  clear(): void;
}

export interface DialOptions {
  /** Bound on handshake + hello (default handshakeTimeoutMs + helloTimeoutMs). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The admitted peer a datagram with no open connection came from. */
export interface DatagramSender {
  peerId: string;
  peerAddress: string;
}

interface EndpointEvents {
  connection: (conn: PeerConnection) => void;
  /** A message that came as a datagram from a peer we have keys for but no open connection to, at `receivedAt` (the endpoint's clock). */
  datagram: (payload: Uint8Array, from: DatagramSender, receivedAt: number) => void;
}

interface Hello {
  cluster: string;
  nodeId: string;
  address: string;
  protocolVersion: number;
  /** The key the sender of this hello receives datagrams with (absent: it takes none). */
  dgram?: DatagramKeyOffer;
}

type HelloAnswer = ({ ok: true } & Hello) | { ok: false; reason: string };

interface InboundState {
  peer?: PeerConnection;
  timer?: NodeJS.Timeout;
}

// ---- addresses ----------------------------------------------------------------------

export interface ParsedAddress {
  host: string;
  port: number;
}

/** Parses "host:port" or "[v6]:port". Port 0 is allowed only with `allowZeroPort`. */
export function parseAddress(address: string, opts: { allowZeroPort?: boolean } = {}): ParsedAddress {
  if (typeof address !== 'string' || address.length === 0 || address.length > 300) throw new InvalidAddressError(String(address), 'expected "host:port"');
  let host: string;
  let portText: string;
  if (address.startsWith('[')) {
    const end = address.indexOf(']');
    if (end < 0 || address[end + 1] !== ':') throw new InvalidAddressError(address, 'expected "[v6]:port"');
    host = address.slice(1, end);
    portText = address.slice(end + 2);
    if (isIP(host) !== 6) throw new InvalidAddressError(address, 'bracketed host must be an IPv6 address');
  } else {
    const idx = address.lastIndexOf(':');
    if (idx <= 0) throw new InvalidAddressError(address, 'expected "host:port"');
    host = address.slice(0, idx);
    portText = address.slice(idx + 1);
    if (host.includes(':')) throw new InvalidAddressError(address, 'IPv6 hosts must be bracketed: "[v6]:port"');
    if (isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(host)) throw new InvalidAddressError(address, 'bad host name');
  }
  if (!/^[0-9]{1,5}$/.test(portText)) throw new InvalidAddressError(address, 'port must be a number');
  const port = Number(portText);
  if (port > 65535 || (port === 0 && !opts.allowZeroPort)) throw new InvalidAddressError(address, 'port must be in 1..65535');
  return { host, port };
}

export function formatAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

function defaultAdvertiseHost(bindHost: string): string {
  if (bindHost !== '0.0.0.0' && bindHost !== '::' && bindHost !== '::0') return bindHost;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

// ---- options ------------------------------------------------------------------------

interface ResolvedOptions {
  nodeId: string;
  cluster: string;
  bindHost: string;
  bindPort: number;
  advertise: ParsedAddress | undefined;
  tls: { caPem: string; certPem: string; keyPem: string };
  maxFrameBytes: number;
  maxQueuedBytes: number;
  handshakeTimeoutMs: number;
  helloTimeoutMs: number;
  maxIdleTimeoutMs: number;
  keepAliveIntervalMs: number;
  datagrams: boolean;
  maxDatagramPayloadBytes: number;
  maxDatagramPeers: number;
  datagramKeyMaxAgeMs: number;
  clock: Clock;
  ownCertProblem: string | undefined;
}

function intIn(key: string, v: unknown, def: number, min: number, max: number): number {
  const x = v === undefined ? def : v;
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) throw new InvalidOptionError(key, `must be an integer in [${min}, ${max}]`);
  return x;
}

/** Validates endpoint options; throws InvalidOptionError naming the key. */
export function resolveEndpointOptions(opts: QuicEndpointOptions): ResolvedOptions {
  if (!opts || typeof opts !== 'object') throw new InvalidOptionError('options', 'must be an object');
  if (!isValidNodeId(opts.nodeId)) throw new InvalidOptionError('nodeId', 'must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$');
  if (typeof opts.cluster !== 'string' || !CLUSTER_PATTERN.test(opts.cluster)) throw new InvalidOptionError('cluster', 'must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$');
  if (typeof opts.bindHost !== 'string' || opts.bindHost.length === 0) throw new InvalidOptionError('bindHost', 'must be a host or IP');
  const bindPort = intIn('bindPort', opts.bindPort, 0, 0, 65535);
  let advertise: ParsedAddress | undefined;
  if (opts.advertise !== undefined) {
    try {
      advertise = parseAddress(opts.advertise, { allowZeroPort: true });
    } catch (e) {
      throw new InvalidOptionError('advertise', (e as Error).message);
    }
  }
  const tls = opts.tls;
  for (const k of ['caPem', 'certPem', 'keyPem'] as const) {
    if (!tls || typeof tls[k] !== 'string' || !tls[k].includes('-----BEGIN')) throw new InvalidOptionError(`tls.${k}`, 'must be a PEM string');
  }
  // Our own certificate must be one the cluster accepts, naming this node.
  const ownDer = new Uint8Array(parseCertificatePem(tls.certPem, 'tls.certPem').raw);
  let own: PeerVerifyResult;
  try {
    own = createPeerVerifier(tls.caPem)([ownDer], new Date());
  } catch (e) {
    throw new InvalidOptionError('tls.caPem', (e as Error).message);
  }
  let ownCertProblem: string | undefined;
  if (!own.ok) ownCertProblem = `does not verify against tls.caPem (${own.reason})`;
  else if (own.nodeId !== opts.nodeId) ownCertProblem = `names node ${own.nodeId}, not ${opts.nodeId}`;
  if (ownCertProblem && opts.allowInvalidOwnCertificate !== true) throw new InvalidOptionError('tls.certPem', ownCertProblem);
  const maxFrameBytes = validateMaxFrameBytes(opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
  const maxQueuedBytes = intIn('maxQueuedBytes', opts.maxQueuedBytes, Math.max(DEFAULT_MAX_QUEUED_BYTES, maxFrameBytes + FRAME_HEADER_BYTES), maxFrameBytes + FRAME_HEADER_BYTES, 2 ** 31);
  const handshakeTimeoutMs = intIn('handshakeTimeoutMs', opts.handshakeTimeoutMs, DEFAULT_HANDSHAKE_TIMEOUT_MS, 1, MAX_TIMEOUT_MS);
  const helloTimeoutMs = intIn('helloTimeoutMs', opts.helloTimeoutMs, DEFAULT_HELLO_TIMEOUT_MS, 1, MAX_TIMEOUT_MS);
  if (opts.datagrams !== undefined && typeof opts.datagrams !== 'boolean') throw new InvalidOptionError('datagrams', 'must be true or false');
  const datagrams = opts.datagrams ?? true;
  const maxDatagramPayloadBytes = intIn('maxDatagramPayloadBytes', opts.maxDatagramPayloadBytes, DEFAULT_MAX_DATAGRAM_PAYLOAD_BYTES, 1, MAX_DATAGRAM_PAYLOAD_BYTES);
  const maxDatagramPeers = intIn('maxDatagramPeers', opts.maxDatagramPeers, DEFAULT_MAX_DATAGRAM_PEERS, 0, MAX_DATAGRAM_PEERS);
  const datagramKeyMaxAgeMs = intIn('datagramKeyMaxAgeMs', opts.datagramKeyMaxAgeMs, DEFAULT_DATAGRAM_KEY_MAX_AGE_MS, 1000, MAX_DATAGRAM_KEY_MAX_AGE_MS);
  if (opts.clock !== undefined && typeof opts.clock?.now !== 'function') throw new InvalidOptionError('clock', 'must have a now() method');
  const maxIdleTimeoutMs = intIn('maxIdleTimeoutMs', opts.maxIdleTimeoutMs, datagrams ? DEFAULT_MAX_IDLE_TIMEOUT_MS_WITH_DATAGRAMS : DEFAULT_MAX_IDLE_TIMEOUT_MS, 0, MAX_IDLE_MS);
  const keepAliveIntervalMs = intIn('keepAliveIntervalMs', opts.keepAliveIntervalMs, DEFAULT_KEEP_ALIVE_INTERVAL_MS, 0, MAX_IDLE_MS);
  if (maxIdleTimeoutMs > 0 && keepAliveIntervalMs >= maxIdleTimeoutMs) {
    throw new InvalidOptionError('keepAliveIntervalMs', 'must be < maxIdleTimeoutMs (or 0 to disable keep-alive)');
  }
  return {
    nodeId: opts.nodeId,
    cluster: opts.cluster,
    bindHost: opts.bindHost,
    bindPort,
    advertise,
    tls: { caPem: tls.caPem, certPem: tls.certPem, keyPem: tls.keyPem },
    maxFrameBytes,
    maxQueuedBytes,
    handshakeTimeoutMs,
    helloTimeoutMs,
    maxIdleTimeoutMs,
    keepAliveIntervalMs,
    datagrams,
    maxDatagramPayloadBytes,
    maxDatagramPeers,
    datagramKeyMaxAgeMs,
    clock: opts.clock ?? preciseClock(),
    ownCertProblem,
  };
}

// ---- js-quic logging ----------------------------------------------------------------

class PinoHandler extends Handler {
  constructor(private readonly target: PinoLogger) {
    super();
  }
  override handle(record: LogRecord): void {
    try {
      const msg = record.msg ?? '';
      const fields = { component: 'js-quic', key: record.keys };
      if (record.level >= LogLevel.ERROR) this.target.error(fields, msg);
      else if (record.level >= LogLevel.WARN) this.target.warn(fields, msg);
      else this.target.debug(fields, msg);
    } catch {
      // logging must never throw into js-quic
    }
  }
  emit(): void {}
}

// ---- hello encoding -----------------------------------------------------------------

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

function encodeJson(v: unknown): Uint8Array {
  return textEncoder.encode(JSON.stringify(v));
}

function decodeJson(bytes: Uint8Array): Record<string, unknown> | undefined {
  if (bytes.byteLength > MAX_HELLO_BYTES) return undefined;
  try {
    const v: unknown = JSON.parse(textDecoder.decode(bytes));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function readHelloFields(o: Record<string, unknown>): Hello | undefined {
  const { cluster, nodeId, address, protocolVersion } = o;
  if (typeof cluster !== 'string' || cluster.length > 128) return undefined;
  if (typeof nodeId !== 'string' || nodeId.length > 128) return undefined;
  if (typeof address !== 'string' || address.length > 300) return undefined;
  if (typeof protocolVersion !== 'number' || !Number.isInteger(protocolVersion)) return undefined;
  const dgram = offerFromJson(o.dgram);
  return { cluster, nodeId, address, protocolVersion, ...(dgram ? { dgram } : {}) };
}

function parseHello(bytes: Uint8Array): Hello | undefined {
  const o = decodeJson(bytes);
  if (!o || o.type !== 'shoal-hello') return undefined;
  return readHelloFields(o);
}

function parseAnswer(bytes: Uint8Array): HelloAnswer | undefined {
  const o = decodeJson(bytes);
  if (!o || o.type !== 'shoal-hello-ack') return undefined;
  if (o.ok === false) return { ok: false, reason: typeof o.reason === 'string' ? o.reason.slice(0, 100) : 'unspecified' };
  if (o.ok !== true) return undefined;
  const h = readHelloFields(o);
  return h ? { ok: true, ...h } : undefined;
}

// ---- crypto for js-quic -------------------------------------------------------------

async function makeServerCrypto(): Promise<{ key: ArrayBuffer; ops: { sign: (key: ArrayBuffer, data: ArrayBuffer) => Promise<ArrayBuffer>; verify: (key: ArrayBuffer, data: ArrayBuffer, sig: ArrayBuffer) => Promise<boolean> } }> {
  const raw = webcrypto.getRandomValues(new Uint8Array(32));
  const key = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
  const hmac = await webcrypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  return {
    key,
    ops: {
      // The key argument is always ours (the one above): use the imported CryptoKey.
      sign: async (_key, data) => webcrypto.subtle.sign('HMAC', hmac, data),
      verify: async (_key, data, sig) => webcrypto.subtle.verify('HMAC', hmac, sig, data),
    },
  };
}

const clientCrypto = {
  ops: {
    randomBytes: async (data: ArrayBuffer): Promise<void> => {
      webcrypto.getRandomValues(new Uint8Array(data));
    },
  },
};

function causeChain(e: unknown): unknown[] {
  const out: unknown[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 8 && cur != null; i++) {
    out.push(cur);
    cur = (cur as { cause?: unknown }).cause;
  }
  return out;
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---- the endpoint -------------------------------------------------------------------

export class QuicEndpoint {
  readonly nodeId: string;
  readonly cluster: string;
  /** Advertised "host:port". */
  readonly address: string;
  readonly boundPort: number;
  readonly boundHost: string;
  readonly maxFrameBytes: number;
  readonly faults: EndpointFaults;

  private readonly opts: ResolvedOptions;
  private readonly logger: PinoLogger;
  private readonly quicLogger: Logger;
  private readonly socket: QUICSocket;
  private readonly server: QUICServer;
  private readonly verify: (chain: readonly Uint8Array[] | undefined, now: Date) => PeerVerifyResult;
  private readonly clock: Clock;
  private readonly counters = newCounters();
  private tlsRejected = 0;
  private helloRejected = 0;
  private dialFailures = 0;
  private extraStreams = 0;
  private inboundTotal = 0;
  private outboundTotal = 0;
  private readonly admittedIn = new Set<PeerConnection>();
  private readonly admittedOut = new Set<PeerConnection>();
  /** Every PeerConnection not yet closed, admitted or not. */
  private readonly live = new Set<PeerConnection>();
  private readonly inbound = new Map<QUICConnection, InboundState>();
  private readonly dialing = new Set<QUICClient>();
  private readonly blocked = new Set<string>();
  private readonly loggedRefusals = new Set<string>();
  private readonly listeners = new Set<EndpointEvents['connection']>();
  private readonly stopController = new AbortController();
  private stopPromise: Promise<void> | undefined;
  /** The dgram socket under js-quic and our listener on it; `datagrams`: sealed datagrams are on. */
  private raw: { socket: dgram.Socket; listener: (msg: Buffer, rinfo: dgram.RemoteInfo) => void; datagrams: boolean } | undefined;
  /** Datagrams js-quic's packet handler failed on (dropped). */
  private packetErrors = 0;
  /** Our receive keys and the peers' send keys, kept past their connections (datagram-keyring.ts). */
  private readonly keyring: DatagramKeyring<PeerConnection>;
  private readonly datagramListeners = new Set<EndpointEvents['datagram']>();
  private datagramsOutUnconnected = 0;
  private datagramsInUnconnected = 0;

  private constructor(init: {
    opts: ResolvedOptions;
    logger: PinoLogger;
    quicLogger: Logger;
    socket: QUICSocket;
    server: QUICServer;
    address: string;
  }) {
    this.opts = init.opts;
    this.nodeId = init.opts.nodeId;
    this.cluster = init.opts.cluster;
    this.maxFrameBytes = init.opts.maxFrameBytes;
    this.logger = init.logger;
    this.quicLogger = init.quicLogger;
    this.socket = init.socket;
    this.server = init.server;
    this.address = init.address;
    this.boundPort = init.socket.port;
    this.boundHost = init.socket.host;
    this.verify = createPeerVerifier(init.opts.tls.caPem);
    this.clock = init.opts.clock;
    this.keyring = new DatagramKeyring({ maxPeers: init.opts.maxDatagramPeers, maxAgeMs: init.opts.datagramKeyMaxAgeMs, now: () => this.clock.now() });
    const blocked = this.blocked;
    this.faults = {
      blockAddress: (a) => void blocked.add(a),
      unblockAddress: (a) => void blocked.delete(a),
      clear: () => blocked.clear(),
    };
  }

  /** Binds the shared socket and starts accepting peers. */
  static async start(options: QuicEndpointOptions): Promise<QuicEndpoint> {
    const opts = resolveEndpointOptions(options);
    const logger = (options.logger ?? pino({ name: 'shoal-quic', level: 'info' }, pino.destination({ dest: 2, sync: true }))).child({
      component: 'quic-endpoint',
      node: opts.nodeId,
    });
    if (opts.ownCertProblem) logger.warn({ problem: opts.ownCertProblem }, 'starting with an invalid own certificate (allowInvalidOwnCertificate)');
    const quicLogger = new Logger('js-quic', LogLevel.WARN, [new PinoHandler(logger)]);
    const socket = new QUICSocket({ logger: quicLogger.getChild('socket') });
    try {
      await socket.start({ host: opts.bindHost, port: opts.bindPort });
    } catch (e) {
      throw new InvalidOptionError('bindHost/bindPort', `cannot bind ${opts.bindHost}:${opts.bindPort}: ${errMessage(e)}`);
    }
    let server: QUICServer | undefined;
    try {
      const crypto = await makeServerCrypto();
      const advertise = opts.advertise ?? { host: defaultAdvertiseHost(opts.bindHost), port: 0 };
      const address = formatAddress(advertise.host, advertise.port === 0 ? socket.port : advertise.port);
      // The server config is built with a verifyCallback bound after construction.
      let endpoint: QuicEndpoint | undefined;
      const serverConfig: QUICServerConfigInput = {
        ...QuicEndpoint.quicConfig(opts),
        key: opts.tls.keyPem,
        cert: opts.tls.certPem,
        verifyPeer: true,
        verifyCallback: async (certs: Uint8Array[]) => {
          try {
            return endpoint ? endpoint.verifyInbound(certs) : cryptoCodeFor('missing');
          } catch {
            return cryptoCodeFor('bad-signature');
          }
        },
        // The dialer opens exactly one bidirectional stream; one spare tolerates a retry.
        initialMaxStreamsBidi: 2,
        initialMaxStreamsUni: 0,
      };
      server = new QUICServer({
        socket,
        crypto,
        config: serverConfig,
        minIdleTimeout: opts.handshakeTimeoutMs,
        logger: quicLogger.getChild('server'),
      });
      endpoint = new QuicEndpoint({ opts, logger, quicLogger, socket, server, address });
      endpoint.attachServer();
      endpoint.attachSocketListener();
      await server.start();
      logger.info({ address, bound: formatAddress(socket.host, socket.port), cluster: opts.cluster }, 'QUIC endpoint started');
      return endpoint;
    } catch (e) {
      try {
        if (server) await server.stop({ force: true });
      } catch {
        // ignore
      }
      await socket.stop({ force: true }).catch(() => {});
      throw e;
    }
  }

  private static quicConfig(opts: ResolvedOptions): QUICClientConfigInput {
    return {
      maxIdleTimeout: opts.maxIdleTimeoutMs,
      keepAliveIntervalTime: opts.keepAliveIntervalMs > 0 ? opts.keepAliveIntervalMs : undefined,
      applicationProtos: [ALPN],
      enableEarlyData: false,
    };
  }

  // ---- events --------------------------------------------------------------------

  on<K extends keyof EndpointEvents>(event: K, listener: EndpointEvents[K]): this {
    if (event === 'connection') this.listeners.add(listener as EndpointEvents['connection']);
    else if (event === 'datagram') this.datagramListeners.add(listener as EndpointEvents['datagram']);
    return this;
  }

  off<K extends keyof EndpointEvents>(event: K, listener: EndpointEvents[K]): this {
    if (event === 'connection') this.listeners.delete(listener as EndpointEvents['connection']);
    else if (event === 'datagram') this.datagramListeners.delete(listener as EndpointEvents['datagram']);
    return this;
  }

  get stopped(): boolean {
    return this.stopPromise !== undefined;
  }

  stats(): QuicEndpointStats {
    const c = this.counters;
    return {
      inbound: this.admittedIn.size,
      outbound: this.admittedOut.size,
      inboundTotal: this.inboundTotal,
      outboundTotal: this.outboundTotal,
      tlsRejected: this.tlsRejected,
      helloRejected: this.helloRejected,
      dialFailures: this.dialFailures,
      framesIn: c.framesIn,
      framesOut: c.framesOut,
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
      badFrames: c.badFrames,
      sendErrors: c.sendErrors,
      sendDropped: c.sendDropped,
      faultDropped: c.faultDropped,
      pendingDropped: c.pendingDropped,
      datagramsIn: c.datagramsIn,
      datagramsOut: c.datagramsOut,
      datagramsUnknownKey: c.datagramsUnknownKey,
      datagramsBadTag: c.datagramsBadTag,
      datagramsReplayed: c.datagramsReplayed,
      extraStreams: this.extraStreams,
      packetErrors: this.packetErrors,
      datagramPeers: this.keyring.size,
      datagramsOutUnconnected: this.datagramsOutUnconnected,
      datagramsInUnconnected: this.datagramsInUnconnected,
    };
  }

  /** Admitted connections open now. */
  connections(): PeerConnection[] {
    return [...this.admittedIn, ...this.admittedOut];
  }

  // ---- dialing -------------------------------------------------------------------

  /**
   * Connects to a peer: QUIC + mutual TLS, then the hello. Rejects with DialTimeout,
   * HandshakeRejected, HelloRejected, DialFailed, EndpointStopped or InvalidAddressError.
   */
  async dial(address: string, opts: DialOptions = {}): Promise<PeerConnection> {
    if (this.stopped) throw new EndpointStopped();
    const target = parseAddress(address);
    const timeoutMs = intIn('timeoutMs', opts.timeoutMs, this.opts.handshakeTimeoutMs + this.opts.helloTimeoutMs, 1, MAX_TIMEOUT_MS);
    const started = Date.now();
    try {
      return await this.dialOnce(address, target, timeoutMs, started, opts.signal);
    } catch (e) {
      this.dialFailures++;
      throw e;
    }
  }

  private async dialOnce(address: string, target: ParsedAddress, timeoutMs: number, started: number, signal: AbortSignal | undefined): Promise<PeerConnection> {
    let verdict: PeerVerifyResult | undefined;
    const config: QUICClientConfigInput = {
      ...QuicEndpoint.quicConfig(this.opts),
      key: this.opts.tls.keyPem,
      cert: this.opts.tls.certPem,
      verifyPeer: true,
      verifyCallback: async (certs: Uint8Array[]) => {
        try {
          verdict = this.verify(certs, new Date());
          return verdict.ok ? undefined : cryptoCodeFor(verdict.reason);
        } catch {
          verdict = { ok: false, reason: 'bad-signature' };
          return cryptoCodeFor('bad-signature');
        }
      },
      initialMaxStreamsBidi: 0,
      initialMaxStreamsUni: 0,
    };
    const signals = [this.stopController.signal, ...(signal ? [signal] : [])];
    const abortSignal = signals.length === 1 ? signals[0]! : AbortSignal.any(signals);
    if (abortSignal.aborted) throw this.stopped ? new EndpointStopped() : new DialFailed(address, 'aborted', { cause: abortSignal.reason });
    const handshakeMs = Math.min(this.opts.handshakeTimeoutMs, timeoutMs);
    let client: QUICClient;
    try {
      client = await QUICClient.createQUICClient(
        {
          host: target.host,
          port: target.port,
          socket: this.socket,
          crypto: clientCrypto,
          config,
          logger: this.quicLogger.getChild('client'),
        },
        { timer: handshakeMs, signal: abortSignal },
      );
    } catch (e) {
      throw this.dialError(address, e, verdict, handshakeMs, timeoutMs);
    }
    if (this.stopped) {
      await client.destroy({ force: true }).catch(() => {});
      throw new EndpointStopped();
    }
    const handshakeDoneAt = Date.now();
    this.dialing.add(client);
    let conn: PeerConnection;
    try {
      const stream = client.connection.newStream('bidi');
      conn = this.makeConnection('outbound', client.connection, stream, async () => {
        this.dialing.delete(client);
        await client.destroy({ force: true });
      });
    } catch (e) {
      this.dialing.delete(client);
      await client.destroy({ force: true }).catch(() => {});
      throw new DialFailed(address, `cannot open the stream: ${errMessage(e)}`, { cause: e });
    }
    this.dialing.delete(client);
    if (!verdict?.ok) {
      // Cannot happen (the handshake only completes after our callback accepted), but never admit without an id.
      await conn.shutdown('no-verified-peer');
      throw new HandshakeRejected(address, 'missing', 'local');
    }
    const serverId = verdict.nodeId;
    const offer = this.newOffer(conn);
    conn.sendControl(
      encodeJson({
        type: 'shoal-hello',
        cluster: this.cluster,
        nodeId: this.nodeId,
        address: this.address,
        protocolVersion: TRANSPORT_PROTOCOL_VERSION,
        ...(offer ? { dgram: offerToJson(offer) } : {}),
      }),
    );
    const helloMs = Math.max(1, Math.min(this.opts.helloTimeoutMs, timeoutMs - (Date.now() - started)));
    let answerBytes: Uint8Array;
    const onAbort = () => void conn.shutdown(this.stopped ? 'endpoint-stopped' : 'dial-aborted');
    abortSignal.addEventListener('abort', onAbort, { once: true });
    try {
      answerBytes = await conn.firstFrame(helloMs);
    } catch (e) {
      await conn.shutdown('hello-failed');
      if (e instanceof HelloTimeout) {
        this.countHelloRefusal('outbound', address, 'no-answer');
        throw new DialTimeout(address, timeoutMs, 'hello');
      }
      if (this.stopped) throw new EndpointStopped();
      const reason = e instanceof HelloAborted ? e.reason : errMessage(e);
      const tls = /^peer-refused-tls:(.*)$/.exec(reason) ?? /^peer-refused-tls:(.*)$/.exec(reasonFromQuicError(conn.lastQuicError) ?? '');
      if (tls) throw new HandshakeRejected(address, tls[1]!, 'peer');
      throw new DialFailed(address, `connection closed during the hello (${reason})`);
    } finally {
      abortSignal.removeEventListener('abort', onAbort);
    }
    const answer = parseAnswer(answerBytes);
    const refuse = async (reason: string): Promise<never> => {
      this.countHelloRefusal('outbound', address, reason);
      await conn.shutdown(`hello-rejected:${reason}`);
      throw new HelloRejected(address, reason, 'local');
    };
    if (!answer) return refuse('malformed-answer');
    if (!answer.ok) {
      await conn.shutdown(`hello-refused-by-peer:${answer.reason}`);
      throw new HelloRejected(address, answer.reason, 'peer');
    }
    if (answer.protocolVersion !== TRANSPORT_PROTOCOL_VERSION) return refuse('protocol-version');
    if (answer.cluster !== this.cluster) return refuse('wrong-cluster');
    if (answer.nodeId !== serverId) return refuse('node-id-mismatch');
    let peerAddress: string;
    try {
      parseAddress(answer.address);
      peerAddress = answer.address;
    } catch {
      return refuse('bad-address');
    }
    if (conn.closed) throw new DialFailed(address, `connection closed during the hello (${conn.describeClose()})`);
    if (this.stopped) {
      await conn.shutdown('endpoint-stopped');
      throw new EndpointStopped();
    }
    conn.admit(serverId, peerAddress);
    if (offer) this.setUpDatagrams(conn, answer.dgram);
    this.admittedOut.add(conn);
    this.outboundTotal++;
    this.logger.debug({ peer: serverId, peerAddress, handshakeMs: handshakeDoneAt - started, helloMs: Date.now() - handshakeDoneAt }, 'outbound connection admitted');
    return conn;
  }

  private dialError(address: string, e: unknown, verdict: PeerVerifyResult | undefined, handshakeMs: number, timeoutMs: number): Error {
    if (verdict && !verdict.ok) {
      this.tlsRejected++;
      this.logRefusal('tls', address, verdict.reason, 'refused the peer certificate');
      return new HandshakeRejected(address, verdict.reason, 'local');
    }
    if (this.stopped) return new EndpointStopped();
    const chain = causeChain(e);
    for (const c of chain) {
      if (c instanceof quicErrors.ErrorQUICClientCreateTimeout) return new DialTimeout(address, timeoutMs, 'handshake');
      if (c instanceof quicErrors.ErrorQUICConnectionPeerTLS) {
        const reason = reasonForCryptoCode((c as { data?: { errorCode?: number } }).data?.errorCode);
        return new HandshakeRejected(address, reason, 'peer');
      }
      if (c instanceof quicErrors.ErrorQUICConnectionLocalTLS) return new HandshakeRejected(address, 'tls', 'local');
      if (c instanceof quicErrors.ErrorQUICClientInvalidHost) return new DialFailed(address, 'address family does not match the bound socket', { cause: e });
    }
    if (chain.some((c) => (c as { name?: string })?.name === 'AbortError' || c instanceof quicErrors.ErrorQUICConnectionStartTimeout)) {
      return new DialTimeout(address, handshakeMs, 'handshake');
    }
    return new DialFailed(address, errMessage(e), { cause: e });
  }

  // ---- accepting -----------------------------------------------------------------

  private attachServer(): void {
    const server = this.server;
    server.addEventListener(quicEvents.EventQUICServerConnection.name, (evt: Event) => {
      try {
        this.onServerConnection((evt as unknown as { detail: QUICConnection }).detail);
      } catch (e) {
        this.logger.error({ err: e }, 'inbound connection handler failed');
      }
    });
    server.addEventListener(quicEvents.EventQUICConnectionStream.name, (evt: Event) => {
      try {
        this.onServerStream((evt as unknown as { detail: QUICStream }).detail);
      } catch (e) {
        this.logger.error({ err: e }, 'inbound stream handler failed');
      }
    });
    // The only place that knows the address of a peer whose certificate we refused.
    const s = server as unknown as { acceptConnection?: (remote: { host: string; port: number }, ...rest: unknown[]) => Promise<unknown> };
    const original = s.acceptConnection;
    if (typeof original === 'function') {
      s.acceptConnection = async (remote, ...rest) => {
        try {
          return await original.call(server, remote, ...rest);
        } catch (e) {
          try {
            this.onAcceptFailure(remote, e);
          } catch {
            // never throw from here
          }
          throw e;
        }
      };
    }
  }

  private verifyInbound(certs: Uint8Array[]): number | undefined {
    const r = this.verify(certs, new Date());
    return r.ok ? undefined : cryptoCodeFor(r.reason);
  }

  private onAcceptFailure(remote: { host: string; port: number }, e: unknown): void {
    const address = formatAddress(String(remote.host), Number(remote.port));
    for (const c of causeChain(e)) {
      if (c instanceof quicErrors.ErrorQUICConnectionLocalTLS) {
        const reason = reasonForCryptoCode((c as { data?: { errorCode?: number } }).data?.errorCode);
        this.tlsRejected++;
        this.logRefusal('tls', address, reason, 'refused the peer certificate');
        return;
      }
    }
    this.logger.debug({ remote: address, err: errMessage(e) }, 'inbound handshake failed');
  }

  private onServerConnection(connection: QUICConnection): void {
    if (this.stopped) {
      void connection.stop({ force: true }).catch(() => {});
      return;
    }
    const state = this.inboundState(connection);
    if (!state.peer && !state.timer) {
      // A peer that completes TLS but never opens its stream is dropped after the hello timeout.
      const remote = formatAddress(connection.remoteHost, connection.remotePort);
      state.timer = setTimeout(() => {
        const s = this.inbound.get(connection);
        if (s && !s.peer) {
          this.countHelloRefusal('inbound', remote, 'no-hello');
          void connection.stop({ force: true }).catch(() => {});
        }
      }, this.opts.helloTimeoutMs);
    }
  }

  /** The admission state of an inbound connection, made (and forgotten on close) on first sight. */
  private inboundState(connection: QUICConnection): InboundState {
    let state = this.inbound.get(connection);
    if (!state) {
      state = {};
      this.inbound.set(connection, state);
      connection.closedP.then(
        () => this.forgetInbound(connection),
        () => this.forgetInbound(connection),
      );
    }
    return state;
  }

  private forgetInbound(connection: QUICConnection): void {
    const state = this.inbound.get(connection);
    if (state?.timer) clearTimeout(state.timer);
    this.inbound.delete(connection);
  }

  private onServerStream(stream: QUICStream): void {
    const connection = (stream as unknown as { connection?: QUICConnection }).connection;
    if (!connection || this.stopped) {
      stream.cancel(new Error('not accepting streams'));
      return;
    }
    const state = this.inboundState(connection);
    if (state.peer) {
      this.extraStreams++;
      stream.cancel(new Error('one stream per connection'));
      return;
    }
    if (state.timer) {
      clearTimeout(state.timer);
      state.timer = undefined;
    }
    const remote = formatAddress(connection.remoteHost, connection.remotePort);
    const certs = connection.getRemoteCertsChain();
    const verdict = this.verify(certs, new Date());
    const peer = this.makeConnection('inbound', connection, stream, () => connection.stop({ force: true }));
    state.peer = peer;
    if (!verdict.ok) {
      // Cannot happen (verifyCallback ran), but never admit without a verified id.
      this.tlsRejected++;
      this.logRefusal('tls', remote, verdict.reason, 'refused the peer certificate');
      void peer.shutdown(`tls:${verdict.reason}`);
      return;
    }
    void this.inboundHello(peer, verdict.nodeId, remote).catch((e) => {
      this.logger.error({ err: e, remote }, 'inbound hello failed unexpectedly');
      void peer.shutdown('internal-error');
    });
  }

  private async inboundHello(peer: PeerConnection, certId: string, remote: string): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = await peer.firstFrame(this.opts.helloTimeoutMs);
    } catch (e) {
      if (e instanceof HelloTimeout) {
        this.countHelloRefusal('inbound', remote, 'no-hello');
        await peer.shutdown('hello-timeout');
      }
      return; // closed before the hello: nothing to count
    }
    const hello = parseHello(bytes);
    const refuse = async (reason: string): Promise<void> => {
      this.countHelloRefusal('inbound', remote, reason, { certId });
      peer.sendControl(encodeJson({ type: 'shoal-hello-ack', ok: false, reason }));
      await peer.flush(REJECT_FLUSH_MS);
      // Closing at once could reset the stream before the answer leaves; the dialer hangs up when it reads it.
      await peer.waitClosed(REJECT_LINGER_MS);
      await peer.shutdown(`hello-rejected:${reason}`);
    };
    if (!hello) return refuse('malformed-hello');
    if (hello.protocolVersion !== TRANSPORT_PROTOCOL_VERSION) return refuse('protocol-version');
    if (hello.cluster !== this.cluster) return refuse('wrong-cluster');
    if (hello.nodeId !== certId) return refuse('node-id-mismatch');
    if (hello.nodeId === this.nodeId) return refuse('same-node-id');
    try {
      parseAddress(hello.address);
    } catch {
      return refuse('bad-address');
    }
    if (peer.closed || this.stopped) return;
    // Offer a key only to a peer that offered one (an older peer would not answer datagrams).
    const offer = hello.dgram ? this.newOffer(peer) : undefined;
    peer.sendControl(
      encodeJson({
        type: 'shoal-hello-ack',
        ok: true,
        cluster: this.cluster,
        nodeId: this.nodeId,
        address: this.address,
        protocolVersion: TRANSPORT_PROTOCOL_VERSION,
        ...(offer ? { dgram: offerToJson(offer) } : {}),
      }),
    );
    peer.admit(certId, hello.address);
    if (offer) this.setUpDatagrams(peer, hello.dgram);
    this.admittedIn.add(peer);
    this.inboundTotal++;
    this.logger.debug({ peer: certId, peerAddress: hello.address, remote }, 'inbound connection admitted');
    for (const l of [...this.listeners]) {
      try {
        l(peer);
      } catch (e) {
        this.logger.error({ err: e }, "'connection' listener threw");
      }
    }
  }

  // ---- sealed datagrams (datagrams.ts) ----------------------------------------------

  /**
   * Puts our listener in front of js-quic on the shared dgram socket (guarded internals:
   * QUICSocket's `socket` and `handleSocketMessage`). It keeps our sealed datagrams (when
   * datagrams are on) and hands every other datagram to js-quic, catching what js-quic's
   * handler rejects with: some garbage packets pass its parser and then fail inside it
   * (a 0-RTT packet has no token: TypeError), and a rejection nobody handles would end a
   * process that has no 'unhandledRejection' handler. Without the internals, datagrams
   * stay off and js-quic keeps the socket to itself.
   */
  private attachSocketListener(): void {
    const internals = this.socket as unknown as { socket?: dgram.Socket; handleSocketMessage?: (msg: Buffer, rinfo: dgram.RemoteInfo) => unknown };
    const socket = internals.socket;
    const quicHandler = internals.handleSocketMessage;
    if (!socket || typeof socket.listeners !== 'function' || typeof quicHandler !== 'function' || !socket.listeners('message').includes(quicHandler)) {
      this.logger.warn('js-quic internals not as expected (QUICSocket.socket / handleSocketMessage): sealed datagrams are off, js-quic packet errors are not caught');
      return;
    }
    const datagrams = this.opts.datagrams;
    const onQuicError = (e: unknown, rinfo: dgram.RemoteInfo): void => {
      this.packetErrors++;
      this.logger.debug({ remote: formatAddress(rinfo.address, rinfo.port), err: errMessage(e) }, 'js-quic failed on a datagram: dropped');
    };
    const listener = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
      if (datagrams && isSealedDatagram(msg)) {
        try {
          this.onDatagram(msg, this.clock.now());
        } catch (e) {
          this.logger.error({ err: e }, 'datagram handling failed');
        }
        return;
      }
      try {
        const handled = quicHandler(msg, rinfo) as PromiseLike<unknown> | undefined;
        // Duck-typed: the promise may come from another realm (a test sandbox).
        if (handled && typeof handled.then === 'function') handled.then(undefined, (e: unknown) => onQuicError(e, rinfo));
      } catch (e) {
        onQuicError(e, rinfo);
      }
    };
    socket.off('message', quicHandler);
    socket.on('message', listener);
    this.raw = { socket, listener, datagrams };
  }

  /**
   * A fresh receive key for one connection, routed to it at once (the peer may send
   * datagrams as soon as it has read our hello; the connection holds them until
   * admission). Undefined when datagrams are off.
   */
  private newOffer(conn: PeerConnection): DatagramKeyOffer | undefined {
    if (!this.raw?.datagrams || conn.closed) return undefined;
    return this.keyring.offer(conn);
  }

  /** After admission: seal what we send with the key the peer offered (if it did), and keep the keys for the peer. */
  private setUpDatagrams(conn: PeerConnection, theirs: DatagramKeyOffer | undefined): void {
    const raw = this.raw;
    if (!raw?.datagrams) return;
    let to: ParsedAddress;
    try {
      to = parseAddress(conn.remoteAddress);
    } catch (e) {
      this.logger.warn({ peer: conn.peerId, remote: conn.remoteAddress, err: errMessage(e) }, 'cannot send datagrams to this address: messages stay on the stream');
      return;
    }
    const sealer = this.keyring.admitted(conn, { peerId: conn.peerId, peerAddress: conn.peerAddress, to }, theirs);
    if (sealer) conn.enableDatagrams((payload) => this.transmitSealed(raw.socket, sealer, to, payload, conn.peerId), this.opts.maxDatagramPayloadBytes);
  }

  /** Seals and sends one datagram, counted either way (connected or not). False: the send threw. */
  private transmitSealed(socket: dgram.Socket, sealer: DatagramSealer, to: ParsedAddress, payload: Uint8Array, peerId: string): boolean {
    try {
      socket.send(sealer.seal(payload), to.port, to.host, this.onDatagramSent);
    } catch (e) {
      this.counters.sendErrors++;
      this.logger.warn({ peer: peerId, err: errMessage(e) }, 'datagram not sent');
      return false;
    }
    this.counters.datagramsOut++;
    this.counters.bytesOut += payload.byteLength;
    return true;
  }

  private readonly onDatagramSent = (err: Error | null): void => {
    if (err) this.counters.sendErrors++;
  };

  /**
   * Sends one message as a sealed datagram to a peer we hold keys for but may have no
   * open connection to. False when we cannot (no key, key too old, message too large,
   * datagrams off): the caller then needs a connection. Like a connection's send, a
   * blocked peer (fault hook) counts as sent and is dropped.
   */
  sendDatagram(peerAddress: string, payload: Uint8Array): boolean {
    const raw = this.raw;
    if (!raw?.datagrams || this.stopped || payload.byteLength > this.opts.maxDatagramPayloadBytes) return false;
    const peer = this.keyring.sendable(peerAddress);
    if (!peer?.sealer) return false;
    if (this.isBlockedPeer(peer)) {
      this.counters.faultDropped++;
      return true;
    }
    if (this.transmitSealed(raw.socket, peer.sealer, peer.to, payload, peer.peerId)) this.datagramsOutUnconnected++;
    return true;
  }

  /** Drops the datagram keys kept for a peer (its open connections keep theirs). True if there were any. */
  forgetDatagramPeer(peerAddress: string): boolean {
    return this.keyring.forget(peerAddress);
  }

  private isBlockedPeer(peer: DatagramPeer): boolean {
    return this.blocked.size > 0 && (this.blocked.has(peer.peerAddress) || this.blocked.has(formatAddress(peer.to.host, peer.to.port)));
  }

  private onDatagram(msg: Buffer, receivedAt: number): void {
    const route = this.keyring.route(datagramKeyId(msg));
    if (!route) {
      this.counters.datagramsUnknownKey++;
      return;
    }
    const payload = route.opener.open(msg);
    if (payload === 'bad-tag') this.counters.datagramsBadTag++;
    else if (payload === 'replay') this.counters.datagramsReplayed++;
    else if (route.conn && !route.conn.closed) route.conn.receiveDatagram(payload, receivedAt);
    else if (route.peer) this.receiveUnconnected(route.peer, payload, receivedAt);
    else this.counters.datagramsUnknownKey++;
  }

  private receiveUnconnected(peer: DatagramPeer, payload: Uint8Array, receivedAt: number): void {
    if (this.isBlockedPeer(peer)) {
      this.counters.faultDropped++;
      return;
    }
    this.counters.datagramsIn++;
    this.counters.bytesIn += payload.byteLength;
    this.datagramsInUnconnected++;
    this.keyring.heard(peer);
    const from: DatagramSender = { peerId: peer.peerId, peerAddress: peer.peerAddress };
    for (const l of [...this.datagramListeners]) {
      try {
        l(payload, from, receivedAt);
      } catch (e) {
        this.logger.error({ err: e }, "'datagram' listener threw");
      }
    }
  }

  // ---- shared helpers ------------------------------------------------------------

  private makeConnection(direction: 'inbound' | 'outbound', connection: QUICConnection, stream: QUICStream, destroy: () => Promise<void>): PeerConnection {
    const conn = new PeerConnection({
      direction,
      connection,
      stream,
      destroy,
      remoteAddress: formatAddress(connection.remoteHost, connection.remotePort),
      maxFrameBytes: this.opts.maxFrameBytes,
      maxQueuedBytes: this.opts.maxQueuedBytes,
      counters: this.counters,
      isBlocked: (c) => this.blocked.size > 0 && (this.blocked.has(c.peerAddress) || this.blocked.has(c.remoteAddress)),
      logger: this.logger,
      onClosed: (c, reason) => this.onConnectionClosed(c, reason),
    });
    this.live.add(conn);
    return conn;
  }

  private onConnectionClosed(conn: PeerConnection, reason: CloseReason): void {
    this.live.delete(conn);
    this.keyring.connectionClosed(conn);
    const wasAdmitted = this.admittedIn.delete(conn) || this.admittedOut.delete(conn);
    if (wasAdmitted && !this.stopped) this.logger.debug({ peer: conn.peerId, reason }, 'connection closed');
  }

  private countHelloRefusal(direction: 'inbound' | 'outbound', address: string, reason: string, extra: Record<string, unknown> = {}): void {
    this.helloRejected++;
    this.logRefusal('hello', address, reason, direction === 'inbound' ? 'refused an inbound hello' : 'refused the answer to our hello', extra);
  }

  private logRefusal(kind: 'tls' | 'hello', address: string, reason: string, msg: string, extra: Record<string, unknown> = {}): void {
    const key = `${kind}|${address}|${reason}`;
    if (this.loggedRefusals.has(key)) {
      this.logger.debug({ remote: address, reason, ...extra }, msg);
      return;
    }
    if (this.loggedRefusals.size >= MAX_LOGGED_REFUSALS) this.loggedRefusals.clear();
    this.loggedRefusals.add(key);
    this.logger.warn({ remote: address, reason, ...extra }, msg);
  }

  // ---- stopping ------------------------------------------------------------------

  /**
   * Idempotent. Order: outgoing connections in parallel (force), the server (force,
   * which closes the inbound ones), then the shared socket. Nothing is left holding the
   * event loop.
   */
  stop(): Promise<void> {
    if (!this.stopPromise) this.stopPromise = this.doStop();
    return this.stopPromise;
  }

  private async doStop(): Promise<void> {
    this.stopController.abort(new EndpointStopped());
    for (const state of this.inbound.values()) if (state.timer) clearTimeout(state.timer);
    const outbound: Promise<void>[] = [];
    for (const conn of [...this.live]) {
      if (conn.direction === 'outbound') outbound.push(conn.shutdown('endpoint-stopped'));
      else void conn.shutdown('endpoint-stopped', { destroy: false });
    }
    for (const client of [...this.dialing]) outbound.push(client.destroy({ force: true }).catch(() => {}));
    await Promise.allSettled(outbound);
    try {
      await this.server.stop({ force: true });
    } catch (e) {
      this.logger.warn({ err: errMessage(e) }, 'stopping the QUIC server failed');
    }
    if (this.raw) {
      this.raw.socket.off('message', this.raw.listener);
      this.raw = undefined;
    }
    this.keyring.clear();
    this.datagramListeners.clear();
    try {
      await this.socket.stop({ force: true });
    } catch (e) {
      this.logger.warn({ err: errMessage(e) }, 'stopping the QUIC socket failed');
    }
    this.inbound.clear();
    this.listeners.clear();
    this.logger.info({ address: this.address }, 'QUIC endpoint stopped');
  }
}
