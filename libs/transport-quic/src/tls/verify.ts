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
 * Synchronous: parsing uses @peculiar/x509, the signature check node:crypto.
 */
import { X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import * as x509 from './x509.js';
import { NODE_URI_PREFIX, isValidNodeId, parseCertificatePem } from './ca.js';

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
  der: Buffer;
  subject: string;
  keyId: string | undefined;
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
}

function loadCa(caCertPem: string): TrustedCa {
  const cert = parseCertificatePem(caCertPem, 'CA certificate');
  const node = new NodeX509(caCertPem);
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  return {
    der: Buffer.from(cert.rawData),
    subject: cert.subject,
    keyId: ski?.keyId?.toLowerCase(),
    publicKey: node.publicKey,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

/** Extracts the node id from the `shoal://node/<id>` URI SAN; undefined if absent, invalid or ambiguous. */
export function nodeIdFromCertificate(cert: x509.X509Certificate): string | undefined {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  if (!san) return undefined;
  const ids = new Set<string>();
  for (const name of san.names.items) {
    if (name.type === 'url' && name.value.startsWith(NODE_URI_PREFIX)) ids.add(name.value.slice(NODE_URI_PREFIX.length));
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
  let leaf: x509.X509Certificate;
  let nodeLeaf: NodeX509;
  try {
    leaf = new x509.X509Certificate(buf);
    nodeLeaf = new NodeX509(buf);
  } catch {
    // Not a certificate at all: nothing can vouch for it.
    return { kind: 'fail', reason: 'bad-signature' };
  }
  const isTheCa = Buffer.compare(buf, ca.der) === 0;
  if (!isTheCa && leaf.subject === leaf.issuer && safeVerify(nodeLeaf, nodeLeaf.publicKey)) return { kind: 'fail', reason: 'self-signed' };
  if (leaf.issuer !== ca.subject) return { kind: 'fail', reason: 'unknown-ca' };
  const aki = leaf.getExtension(x509.AuthorityKeyIdentifierExtension);
  if (aki?.keyId && ca.keyId && aki.keyId.toLowerCase() !== ca.keyId) return { kind: 'fail', reason: 'unknown-ca' };
  if (!safeVerify(nodeLeaf, ca.publicKey)) return { kind: 'fail', reason: 'bad-signature' };
  return { kind: 'ok', nodeId: nodeIdFromCertificate(leaf), notBefore: leaf.notBefore.getTime(), notAfter: leaf.notAfter.getTime() };
}

function safeVerify(cert: NodeX509, key: KeyObject): boolean {
  try {
    return cert.verify(key);
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
