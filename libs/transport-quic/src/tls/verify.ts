/**
 * Peer certificate verification against the cluster CA. js-quic hands us the peer's
 * chain as DER in its `verifyCallback`; when that callback is set the library skips its
 * own chain check, so this module is the whole check:
 *  1. a leaf is present and parses;
 *  2. it is not self-signed;
 *  3. it names the cluster CA as issuer (subject DN and key identifier);
 *  4. the CA's key signed it;
 *  5. now lies inside both the leaf's and the CA's validity windows;
 *  6. it carries exactly one valid node id in a `URI:shoal://node/<id>` SAN.
 * Synchronous, on node:crypto's X509Certificate (OpenSSL) only: a node that verifies
 * peers never loads @peculiar/x509. Step 3's key identifier check is OpenSSL's
 * `checkIssued` (issuer name, authorityKeyIdentifier against the CA's
 * subjectKeyIdentifier when both are present, and keyCertSign if the CA has keyUsage).
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { NODE_URI_PREFIX, certificateValidity, isValidNodeId, parseCertificatePem, parseSubjectAltName } from './certificate.js';

export type PeerVerifyFailure = 'missing' | 'self-signed' | 'expired' | 'not-yet-valid' | 'unknown-ca' | 'bad-signature' | 'no-node-id';

export type PeerVerifyResult = { ok: true; nodeId: string } | { ok: false; reason: PeerVerifyFailure };

export const PEER_VERIFY_FAILURES: readonly PeerVerifyFailure[] = [
  'missing',
  'self-signed',
  'expired',
  'not-yet-valid',
  'unknown-ca',
  'bad-signature',
  'no-node-id',
];

interface TrustedCa {
  cert: X509Certificate;
  der: Buffer;
  subject: string;
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
}

function loadCa(caCertPem: string): TrustedCa {
  const cert = parseCertificatePem(caCertPem, 'CA certificate');
  return { cert, der: cert.raw, subject: cert.subject, publicKey: cert.publicKey, ...certificateValidity(cert) };
}

/** Extracts the node id from the `shoal://node/<id>` URI SAN; undefined if absent, invalid or ambiguous. */
export function nodeIdFromCertificate(cert: X509Certificate): string | undefined {
  let text: string | undefined;
  try {
    text = cert.subjectAltName;
  } catch {
    return undefined;
  }
  const names = parseSubjectAltName(text);
  if (!names) return undefined;
  const ids = new Set<string>();
  for (const name of names) {
    if (name.type === 'URI' && name.value.startsWith(NODE_URI_PREFIX)) ids.add(name.value.slice(NODE_URI_PREFIX.length));
  }
  if (ids.size !== 1) return undefined;
  const [id] = ids;
  return isValidNodeId(id) ? id : undefined;
}

/** Time-independent facts about a leaf, cached per DER so repeat handshakes skip the parsing. */
type LeafFacts =
  | { kind: 'fail'; reason: PeerVerifyFailure }
  | { kind: 'ok'; nodeId: string | undefined; notBefore: number; notAfter: number };

/** Leaves remembered per verifier (FIFO). A peer's certificate is checked again on every handshake. */
export const VERIFIED_LEAF_CACHE_SIZE = 1024;

/** A verifier bound to one CA, parsed once; leaf parsing results are cached by DER. */
export function createPeerVerifier(caCertPem: string): (chainDer: readonly Uint8Array[] | undefined, now: Date) => PeerVerifyResult {
  const ca = loadCa(caCertPem);
  const cache = new Map<string, LeafFacts>();
  return (chainDer, now) => {
    const leafDer = chainDer?.[0];
    if (!leafDer || leafDer.byteLength === 0) return { ok: false, reason: 'missing' };
    const buf = Buffer.from(leafDer.buffer, leafDer.byteOffset, leafDer.byteLength);
    const key = buf.toString('base64');
    let facts = cache.get(key);
    if (!facts) {
      facts = leafFacts(ca, buf);
      if (cache.size >= VERIFIED_LEAF_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      cache.set(key, facts);
    }
    if (facts.kind === 'fail') return { ok: false, reason: facts.reason };
    const t = now.getTime();
    if (t < facts.notBefore || t < ca.notBefore.getTime()) return { ok: false, reason: 'not-yet-valid' };
    if (t > facts.notAfter || t > ca.notAfter.getTime()) return { ok: false, reason: 'expired' };
    if (facts.nodeId === undefined) return { ok: false, reason: 'no-node-id' };
    return { ok: true, nodeId: facts.nodeId };
  };
}

function leafFacts(ca: TrustedCa, buf: Buffer): LeafFacts {
  let leaf: X509Certificate;
  let validity: { notBefore: Date; notAfter: Date };
  try {
    leaf = new X509Certificate(buf);
    validity = certificateValidity(leaf);
  } catch {
    // Not a certificate at all: nothing can vouch for it.
    return { kind: 'fail', reason: 'bad-signature' };
  }
  const isTheCa = Buffer.compare(buf, ca.der) === 0;
  if (!isTheCa && leaf.subject === leaf.issuer && signedBy(leaf, () => leaf.publicKey)) return { kind: 'fail', reason: 'self-signed' };
  if (leaf.issuer !== ca.subject) return { kind: 'fail', reason: 'unknown-ca' };
  if (!issuedBy(leaf, ca.cert)) return { kind: 'fail', reason: 'unknown-ca' };
  if (!signedBy(leaf, () => ca.publicKey)) return { kind: 'fail', reason: 'bad-signature' };
  return { kind: 'ok', nodeId: nodeIdFromCertificate(leaf), notBefore: validity.notBefore.getTime(), notAfter: validity.notAfter.getTime() };
}

function signedBy(cert: X509Certificate, key: () => KeyObject): boolean {
  try {
    return cert.verify(key());
  } catch {
    return false;
  }
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer);
  } catch {
    return false;
  }
}

const verifierCache = new Map<string, ReturnType<typeof createPeerVerifier>>();
const VERIFIER_CACHE_SIZE = 8;

/**
 * Verifies a peer chain (leaf first, DER) against the cluster CA at time `now`.
 * Throws CertificateError only when `caCertPem` itself is unusable.
 */
export function verifyPeerChain(chainDer: readonly Uint8Array[] | undefined, caCertPem: string, now: Date): PeerVerifyResult {
  let verifier = verifierCache.get(caCertPem);
  if (!verifier) {
    verifier = createPeerVerifier(caCertPem);
    if (verifierCache.size >= VERIFIER_CACHE_SIZE) verifierCache.delete(verifierCache.keys().next().value!);
    verifierCache.set(caCertPem, verifier);
  }
  return verifier(chainDer, now);
}
