/**
 * The cluster certificate authority and node certificates: ECDSA P-256 keys and X.509
 * certificates made with @peculiar/x509 on Node's WebCrypto (no openssl binary).
 * @peculiar/x509 is imported on first use only: a node that just verifies peers never
 * loads it (verify.ts and certificate.ts use node:crypto).
 *
 * A node certificate binds the node id twice in its subjectAltName:
 *  - `URI:shoal://node/<nodeId>` — the identity Shoal checks (verify.ts);
 *  - `DNS:<nodeId>.shoal` — because js-quic's built-in check wants a DNS SAN.
 */
import { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import type * as X509 from './x509.js';
import { CertificateError, InvalidOptionError } from '../errors.js';
import {
  type CertificatePair,
  CLOCK_SKEW_ALLOWANCE_MS,
  DEFAULT_CA_COMMON_NAME,
  DEFAULT_CA_VALIDITY_DAYS,
  DEFAULT_NODE_VALIDITY_DAYS,
  MAX_VALIDITY_DAYS,
  NODE_DNS_SUFFIX,
  assertNodeId,
  nodeUri,
} from './certificate.js';

// The constants and parsing helpers live in certificate.ts (no @peculiar/x509); re-exported here.
export * from './certificate.js';

type X509Module = typeof X509;

/** Loads @peculiar/x509 (through x509.ts, which loads reflect-metadata first) on first use. */
function loadX509(): Promise<X509Module> {
  return import('./x509.js');
}

const DAY_MS = 86_400_000;
const EC_PARAMS = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

export interface CreateClusterCaOptions {
  /** Subject common name of the CA. */
  commonName?: string;
  /** Validity in days from now (default 3650). */
  validityDays?: number;
  /** Start of validity (default: now minus CLOCK_SKEW_ALLOWANCE_MS). Meant for tests. */
  notBefore?: Date;
}

export interface IssueNodeCertificateOptions {
  nodeId: string;
  /** Validity in days from notBefore (default 825). */
  validityDays?: number;
  /** Extra DNS SANs (the `<nodeId>.shoal` one is always present). */
  dnsNames?: string[];
  /** IP SANs (IPv4 or IPv6 literals). */
  ipAddresses?: string[];
  /** Start of validity (default: now minus CLOCK_SKEW_ALLOWANCE_MS). Meant for tests. */
  notBefore?: Date;
}

function checkValidityDays(key: string, days: number): void {
  if (!Number.isFinite(days) || days <= 0 || days > MAX_VALIDITY_DAYS) {
    throw new InvalidOptionError(key, `must be a number of days in (0, ${MAX_VALIDITY_DAYS}]`);
  }
}

function checkCommonName(cn: string): void {
  // Only characters that need no escaping in a distinguished name.
  if (typeof cn !== 'string' || !/^[A-Za-z0-9 ._-]{1,64}$/.test(cn)) {
    throw new InvalidOptionError('commonName', 'must be 1-64 characters of A-Z a-z 0-9 space . _ -');
  }
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive, and no leading zero byte
  return Buffer.from(bytes).toString('hex');
}

function validityWindow(notBefore: Date | undefined, days: number): { notBefore: Date; notAfter: Date } {
  const start = notBefore ?? new Date(Date.now() - CLOCK_SKEW_ALLOWANCE_MS);
  if (!(start instanceof Date) || Number.isNaN(start.getTime())) throw new InvalidOptionError('notBefore', 'must be a valid Date');
  // X.509 dates carry whole seconds.
  const startMs = Math.floor(start.getTime() / 1000) * 1000;
  return { notBefore: new Date(startMs), notAfter: new Date(startMs + Math.round(days * DAY_MS)) };
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_PARAMS, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function exportKeyPem(x509: X509Module, key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importSigningKey(x509: X509Module, keyPem: string): Promise<webcrypto.CryptoKey> {
  let der: ArrayBuffer;
  try {
    der = x509.PemConverter.decodeFirst(keyPem);
  } catch (e) {
    throw new CertificateError('CA key is not a PEM private key', { cause: e });
  }
  try {
    return await webcrypto.subtle.importKey('pkcs8', der, EC_PARAMS, false, ['sign']);
  } catch (e) {
    throw new CertificateError('CA key is not an ECDSA P-256 PKCS#8 key', { cause: e });
  }
}

function parseCaCertificate(x509: X509Module, pem: string): X509.X509Certificate {
  try {
    return new x509.X509Certificate(pem);
  } catch (e) {
    throw new CertificateError('CA certificate is not a PEM X.509 certificate', { cause: e });
  }
}

/** Creates a self-signed cluster CA (cA=true critical, keyUsage keyCertSign|cRLSign critical). */
export async function createClusterCa(opts: CreateClusterCaOptions = {}): Promise<CertificatePair> {
  const commonName = opts.commonName ?? DEFAULT_CA_COMMON_NAME;
  const validityDays = opts.validityDays ?? DEFAULT_CA_VALIDITY_DAYS;
  checkCommonName(commonName);
  checkValidityDays('validityDays', validityDays);
  const x509 = await loadX509();
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${commonName}`,
    ...validityWindow(opts.notBefore, validityDays),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(x509, keys.privateKey) };
}

/** Issues a node certificate signed by the CA, with the node id in its SANs. */
export async function issueNodeCertificate(ca: CertificatePair, opts: IssueNodeCertificateOptions): Promise<CertificatePair> {
  assertNodeId(opts.nodeId);
  const validityDays = opts.validityDays ?? DEFAULT_NODE_VALIDITY_DAYS;
  checkValidityDays('validityDays', validityDays);
  const dnsNames = opts.dnsNames ?? [];
  const ipAddresses = opts.ipAddresses ?? [];
  for (const d of dnsNames) {
    if (typeof d !== 'string' || !/^[A-Za-z0-9*]([A-Za-z0-9.-]{0,252})$/.test(d)) {
      throw new InvalidOptionError('dnsNames', `${JSON.stringify(d)} is not a DNS name`);
    }
  }
  for (const ip of ipAddresses) {
    if (typeof ip !== 'string' || isIP(ip) === 0) throw new InvalidOptionError('ipAddresses', `${JSON.stringify(ip)} is not an IP address`);
  }
  const x509 = await loadX509();
  const caCert = parseCaCertificate(x509, ca.certPem);
  const caKey = await importSigningKey(x509, ca.keyPem);
  const keys = await generateKeys();
  const names: { type: 'url' | 'dns' | 'ip'; value: string }[] = [
    { type: 'url', value: nodeUri(opts.nodeId) },
    { type: 'dns', value: `${opts.nodeId}${NODE_DNS_SUFFIX}` },
    ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  let cert: X509.X509Certificate;
  try {
    cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${opts.nodeId}`,
      issuer: caCert.subject,
      ...validityWindow(opts.notBefore, validityDays),
      publicKey: keys.publicKey,
      signingKey: caKey,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
        new x509.SubjectAlternativeNameExtension(names, false),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
      ],
    });
  } catch (e) {
    throw new CertificateError('signing the node certificate failed (does the CA key match the CA certificate?)', { cause: e });
  }
  // A key that does not belong to the CA certificate would yield a certificate nobody accepts.
  if (!(await cert.verify({ publicKey: caCert.publicKey, signatureOnly: true }))) {
    throw new CertificateError('the CA key does not match the CA certificate');
  }
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(x509, keys.privateKey) };
}
