/** Shared test helpers: certificates, capturing loggers, endpoints on loopback, waiting with deadlines. */
import { webcrypto } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { createClusterCa, issueNodeCertificate, type CertificatePair } from '../src/tls/ca.js';
import * as x509 from '../src/tls/x509.js';
import { QuicEndpoint, type QuicEndpointOptions } from '../src/quic-endpoint.js';

export interface Cluster {
  ca: CertificatePair;
  tls(nodeId: string, opts?: { notBefore?: Date; validityDays?: number }): Promise<QuicEndpointOptions['tls']>;
}

export async function makeCluster(): Promise<Cluster> {
  const ca = await createClusterCa();
  return {
    ca,
    async tls(nodeId, opts = {}) {
      const pair = await issueNodeCertificate(ca, { nodeId, ...opts });
      return { caPem: ca.certPem, certPem: pair.certPem, keyPem: pair.keyPem };
    },
  };
}

/** A self-signed certificate carrying a node id, with its key. */
export async function selfSignedNode(nodeId: string): Promise<CertificatePair> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '0a',
    name: `CN=${nodeId}`,
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys: keys as never,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: 'url', value: `shoal://node/${nodeId}` },
        { type: 'dns', value: `${nodeId}.shoal` },
      ]),
    ],
  });
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: cert.toString('pem'), keyPem: x509.PemConverter.encode(der, 'PRIVATE KEY') };
}

export interface CapturedLog {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export function captureLogger(level: 'debug' | 'info' | 'warn' = 'info'): { logger: Logger; lines: CapturedLog[] } {
  const lines: CapturedLog[] = [];
  const logger = pino({ level }, { write: (s: string) => void lines.push(JSON.parse(s) as CapturedLog) });
  return { logger, lines };
}

/** Starts an endpoint on 127.0.0.1:0 bypassing the own-certificate check only where a test needs a bad cert. */
export async function startEndpoint(
  nodeId: string,
  tls: QuicEndpointOptions['tls'],
  extra: Partial<QuicEndpointOptions> = {},
): Promise<QuicEndpoint> {
  return QuicEndpoint.start({
    nodeId,
    cluster: 'test',
    bindHost: '127.0.0.1',
    bindPort: 0,
    tls,
    logger: pino({ level: 'silent' }),
    handshakeTimeoutMs: 2000,
    helloTimeoutMs: 2000,
    ...extra,
  });
}

/** Resolves when `cond()` holds; rejects after `timeoutMs` with `what`. Polls every 5 ms. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Resolves with the first emitted value, or rejects after `timeoutMs`. */
export function nextEvent<T>(subscribe: (cb: (v: T) => void) => void, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    subscribe((v) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}
