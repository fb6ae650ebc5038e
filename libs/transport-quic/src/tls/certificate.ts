/**
 * Certificate constants and read-only helpers on node:crypto's X509Certificate. Nothing
 * here loads @peculiar/x509: a running node parses and verifies certificates with Node's
 * own OpenSSL binding, and only creating certificates (ca.ts) loads @peculiar/x509, lazily.
 */
import { X509Certificate } from 'node:crypto';
import { CertificateError, InvalidNodeIdError } from '../errors.js';

/** A PEM certificate with its PEM (PKCS#8) private key. */
export interface CertificatePair {
  certPem: string;
  keyPem: string;
}

export const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Prefix of the URI SAN that carries the node id. */
export const NODE_URI_PREFIX = 'shoal://node/';
/** Suffix of the DNS SAN that carries the node id. */
export const NODE_DNS_SUFFIX = '.shoal';

export const DEFAULT_CA_COMMON_NAME = 'Shoal Cluster CA';
export const DEFAULT_CA_VALIDITY_DAYS = 3650;
export const DEFAULT_NODE_VALIDITY_DAYS = 825;
/** Longest validity accepted for any certificate (about 100 years). */
export const MAX_VALIDITY_DAYS = 36500;
/** notBefore is back-dated by this much so small clock differences between nodes do not matter. */
export const CLOCK_SKEW_ALLOWANCE_MS = 5 * 60_000;

export function isValidNodeId(nodeId: unknown): nodeId is string {
  return typeof nodeId === 'string' && NODE_ID_PATTERN.test(nodeId);
}

export function assertNodeId(nodeId: unknown): asserts nodeId is string {
  if (!isValidNodeId(nodeId)) throw new InvalidNodeIdError(String(nodeId));
}

export function nodeUri(nodeId: string): string {
  return `${NODE_URI_PREFIX}${nodeId}`;
}

/** Parses a PEM certificate (the first one in the text) with node:crypto. */
export function parseCertificatePem(pem: string, what = 'certificate'): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new CertificateError(`${what} is not a PEM X.509 certificate`, { cause: e });
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
// OpenSSL's ASN1_TIME_print form, as node:crypto gives it: "Mar  1 15:51:09 2029 GMT".
const OPENSSL_TIME = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d+)? (\d{4}) GMT$/;

/** Milliseconds since the epoch of a node:crypto validFrom/validTo string; NaN if it cannot be read. */
export function parseCertificateTime(text: string): number {
  const m = OPENSSL_TIME.exec(text);
  if (!m) return new Date(text).getTime();
  const month = MONTHS.indexOf(m[1]!);
  if (month < 0) return Number.NaN;
  return Date.UTC(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]));
}

/** The validity window of a certificate. Throws CertificateError if a date cannot be read. */
export function certificateValidity(cert: X509Certificate): { notBefore: Date; notAfter: Date } {
  const notBefore = parseCertificateTime(cert.validFrom);
  const notAfter = parseCertificateTime(cert.validTo);
  if (Number.isNaN(notBefore) || Number.isNaN(notAfter)) {
    throw new CertificateError(`certificate validity ${JSON.stringify(cert.validFrom)} .. ${JSON.stringify(cert.validTo)} cannot be read`);
  }
  return { notBefore: new Date(notBefore), notAfter: new Date(notAfter) };
}

/** One subjectAltName entry: `type` is node's label (`URI`, `DNS`, `IP Address`, ...). */
export interface SubjectAltName {
  type: string;
  value: string;
}

/**
 * Splits node:crypto's `subjectAltName` string (`URI:shoal://node/n1, DNS:n1.shoal`).
 * Entries are separated by ", "; a value holding a comma, quote, backslash or control
 * character is written as a JSON string literal, so a separator inside quotes is part of
 * the value. Returns undefined if the text does not follow that form.
 */
export function parseSubjectAltName(text: string | undefined): SubjectAltName[] | undefined {
  if (text === undefined || text === '') return [];
  const entries: string[] = [];
  let start = 0;
  let i = 0;
  while (i <= text.length) {
    if (i === text.length || (text[i] === ',' && text[i + 1] === ' ')) {
      entries.push(text.slice(start, i));
      i += 2;
      start = i;
      continue;
    }
    if (text[i] === '"') {
      // Skip to the closing quote of a JSON string literal.
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      if (i >= text.length) return undefined;
    }
    i++;
  }
  const names: SubjectAltName[] = [];
  for (const entry of entries) {
    const colon = entry.indexOf(':');
    if (colon <= 0) return undefined;
    const type = entry.slice(0, colon);
    let value = entry.slice(colon + 1);
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        // Kept as written: a value starting with a quote never names a node.
      }
    }
    names.push({ type, value });
  }
  return names;
}
