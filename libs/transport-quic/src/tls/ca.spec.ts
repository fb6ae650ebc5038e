import { describe, expect, it } from '@jest/globals';
import { X509Certificate as NodeX509, webcrypto } from 'node:crypto';
import * as x509 from './x509.js';
import { CertificateError, InvalidNodeIdError, InvalidOptionError } from '../errors.js';
import { createClusterCa, issueNodeCertificate, isValidNodeId } from './ca.js';
import { createPeerVerifier, nodeIdFromCertificate, verifyPeerChain } from './verify.js';

const DAY = 86_400_000;
const der = (pem: string) => new Uint8Array(new x509.X509Certificate(pem).rawData);

async function selfSignedNode(nodeId: string): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${nodeId}`,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + DAY),
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `shoal://node/${nodeId}` }])],
  });
  return cert.toString('pem');
}

describe('createClusterCa', () => {
  it('makes a real CA: cA=true critical, keyCertSign|cRLSign, valid for about 10 years', async () => {
    const ca = await createClusterCa();
    const cert = new x509.X509Certificate(ca.certPem);
    const bc = cert.getExtension(x509.BasicConstraintsExtension)!;
    expect(bc.ca).toBe(true);
    expect(bc.critical).toBe(true);
    const ku = cert.getExtension(x509.KeyUsagesExtension)!;
    expect(ku.usages & x509.KeyUsageFlags.keyCertSign).toBeTruthy();
    expect(ku.usages & x509.KeyUsageFlags.cRLSign).toBeTruthy();
    expect(cert.subject).toBe('CN=Shoal Cluster CA');
    const days = (cert.notAfter.getTime() - cert.notBefore.getTime()) / DAY;
    expect(days).toBeCloseTo(3650, 0);
    expect(ca.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(new NodeX509(ca.certPem).ca).toBe(true);
  });

  it('validates its options', async () => {
    await expect(createClusterCa({ validityDays: 0 })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(createClusterCa({ commonName: 'a,b=c' })).rejects.toBeInstanceOf(InvalidOptionError);
  });
});

describe('issueNodeCertificate', () => {
  it('binds the node id as URI and DNS SAN, with serverAuth+clientAuth, signed by the CA', async () => {
    const ca = await createClusterCa();
    const node = await issueNodeCertificate(ca, { nodeId: 'node-1', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const cert = new x509.X509Certificate(node.certPem);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!;
    expect(san.names.items.map((n) => `${n.type}:${n.value}`)).toEqual(['url:shoal://node/node-1', 'dns:node-1.shoal', 'dns:localhost', 'ip:127.0.0.1']);
    const eku = cert.getExtension(x509.ExtendedKeyUsageExtension)!;
    expect(eku.usages).toEqual([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
    expect(cert.issuer).toBe('CN=Shoal Cluster CA');
    expect(new NodeX509(node.certPem).checkIssued(new NodeX509(ca.certPem))).toBe(true);
    expect(new NodeX509(node.certPem).verify(new NodeX509(ca.certPem).publicKey)).toBe(true);
    expect(nodeIdFromCertificate(new NodeX509(node.certPem))).toBe('node-1');
    const days = (cert.notAfter.getTime() - cert.notBefore.getTime()) / DAY;
    expect(days).toBeCloseTo(825, 0);
  });

  it('validates the node id and options', async () => {
    const ca = await createClusterCa();
    for (const bad of ['', '-x', 'a b', 'a/b', 'x'.repeat(129), 'ü']) {
      expect(isValidNodeId(bad)).toBe(false);
      await expect(issueNodeCertificate(ca, { nodeId: bad })).rejects.toBeInstanceOf(InvalidNodeIdError);
    }
    expect(isValidNodeId('a'.repeat(128))).toBe(true);
    expect(isValidNodeId('Node_1.eu-west')).toBe(true);
    await expect(issueNodeCertificate(ca, { nodeId: 'n', ipAddresses: ['300.1.1.1'] })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(issueNodeCertificate(ca, { nodeId: 'n', validityDays: -1 })).rejects.toBeInstanceOf(InvalidOptionError);
  });

  it('refuses a CA key that does not belong to the CA certificate', async () => {
    const a = await createClusterCa();
    const b = await createClusterCa();
    await expect(issueNodeCertificate({ certPem: a.certPem, keyPem: b.keyPem }, { nodeId: 'n' })).rejects.toBeInstanceOf(CertificateError);
    await expect(issueNodeCertificate({ certPem: a.certPem, keyPem: 'garbage' }, { nodeId: 'n' })).rejects.toBeInstanceOf(CertificateError);
  });
});

describe('verifyPeerChain', () => {
  it('accepts a node certificate of the cluster CA and returns its id', async () => {
    const ca = await createClusterCa();
    const node = await issueNodeCertificate(ca, { nodeId: 'alpha' });
    expect(verifyPeerChain([der(node.certPem)], ca.certPem, new Date())).toEqual({ ok: true, nodeId: 'alpha' });
    // Extra chain entries after the leaf are ignored.
    expect(verifyPeerChain([der(node.certPem), der(ca.certPem)], ca.certPem, new Date())).toEqual({ ok: true, nodeId: 'alpha' });
  });

  it('names every refusal', async () => {
    const ca = await createClusterCa();
    const other = await createClusterCa(); // same subject name, different key
    const otherNamed = await createClusterCa({ commonName: 'Another CA' });
    const now = new Date();
    const check = (chain: Uint8Array[] | undefined, at = now) => verifyPeerChain(chain, ca.certPem, at);
    expect(check([])).toEqual({ ok: false, reason: 'missing' });
    expect(check(undefined)).toEqual({ ok: false, reason: 'missing' });
    expect(check([new Uint8Array([1, 2, 3])])).toEqual({ ok: false, reason: 'bad-signature' });
    expect(check([der(await selfSignedNode('alpha'))])).toEqual({ ok: false, reason: 'self-signed' });
    expect(check([der((await issueNodeCertificate(other, { nodeId: 'alpha' })).certPem)])).toEqual({ ok: false, reason: 'unknown-ca' });
    expect(check([der((await issueNodeCertificate(otherNamed, { nodeId: 'alpha' })).certPem)])).toEqual({ ok: false, reason: 'unknown-ca' });
    const expired = await issueNodeCertificate(ca, { nodeId: 'alpha', notBefore: new Date(now.getTime() - 10 * DAY), validityDays: 1 });
    expect(check([der(expired.certPem)])).toEqual({ ok: false, reason: 'expired' });
    const future = await issueNodeCertificate(ca, { nodeId: 'alpha', notBefore: new Date(now.getTime() + 10 * DAY) });
    expect(check([der(future.certPem)])).toEqual({ ok: false, reason: 'not-yet-valid' });
    // The CA certificate itself is signed by the CA but names no node.
    expect(check([der(ca.certPem)])).toEqual({ ok: false, reason: 'no-node-id' });
    // A good certificate checked at a time after its expiry.
    const good = await issueNodeCertificate(ca, { nodeId: 'alpha', validityDays: 2 });
    expect(check([der(good.certPem)], new Date(now.getTime() + 3 * DAY))).toEqual({ ok: false, reason: 'expired' });
  });

  it('detects a forged signature (issuer name and key id copied, signed by another key)', async () => {
    const ca = await createClusterCa();
    const impostor = await createClusterCa(); // same DN
    const good = new x509.X509Certificate((await issueNodeCertificate(ca, { nodeId: 'alpha' })).certPem);
    const aki = good.getExtension(x509.AuthorityKeyIdentifierExtension)!;
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const impostorKey = await webcrypto.subtle.importKey(
      'pkcs8',
      x509.PemConverter.decodeFirst(impostor.keyPem),
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign'],
    );
    const forged = await x509.X509CertificateGenerator.create({
      serialNumber: '02',
      subject: 'CN=alpha',
      issuer: good.issuer,
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + DAY),
      publicKey: keys.publicKey,
      signingKey: impostorKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [aki, new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'shoal://node/alpha' }])],
    });
    expect(verifyPeerChain([new Uint8Array(forged.rawData)], ca.certPem, new Date())).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('a bound verifier gives the same answers', async () => {
    const ca = await createClusterCa();
    const verify = createPeerVerifier(ca.certPem);
    const node = await issueNodeCertificate(ca, { nodeId: 'beta' });
    expect(verify([der(node.certPem)], new Date())).toEqual({ ok: true, nodeId: 'beta' });
    expect(() => createPeerVerifier('not a pem')).toThrow(CertificateError);
  });
});
