import { describe, expect, it } from '@jest/globals';
import { X509Certificate, webcrypto } from 'node:crypto';
import * as x509 from './x509.js';
import { CertificateError } from '../errors.js';
import { certificateValidity, parseCertificatePem, parseCertificateTime, parseSubjectAltName } from './certificate.js';
import { nodeIdFromCertificate } from './verify.js';

type San = { type: 'url' | 'dns' | 'ip' | 'email'; value: string };

async function certWith(names: San[], notBefore = new Date('2020-03-01T01:02:03Z'), notAfter = new Date('2060-12-31T23:59:59Z')): Promise<X509Certificate> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=test',
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return new X509Certificate(cert.toString('pem'));
}

describe('parseSubjectAltName', () => {
  it('splits plain entries', () => {
    expect(parseSubjectAltName('URI:shoal://node/n1, DNS:n1.shoal, IP Address:127.0.0.1')).toEqual([
      { type: 'URI', value: 'shoal://node/n1' },
      { type: 'DNS', value: 'n1.shoal' },
      { type: 'IP Address', value: '127.0.0.1' },
    ]);
    expect(parseSubjectAltName(undefined)).toEqual([]);
  });

  it('reads quoted values, with separators and escapes inside the quotes', () => {
    expect(parseSubjectAltName('URI:"shoal://node/a, URI:shoal://node/b", DNS:x')).toEqual([
      { type: 'URI', value: 'shoal://node/a, URI:shoal://node/b' },
      { type: 'DNS', value: 'x' },
    ]);
    expect(parseSubjectAltName('URI:"a\\u002c \\"b\\"\\\\", DNS:y')).toEqual([
      { type: 'URI', value: 'a, "b"\\' },
      { type: 'DNS', value: 'y' },
    ]);
    expect(parseSubjectAltName('URI:"unterminated, DNS:x')).toBeUndefined();
  });

  it("agrees with node:crypto's rendering of awkward names", async () => {
    const names: San[] = [
      { type: 'url', value: 'shoal://node/a, URI:shoal://node/b' },
      { type: 'url', value: 'shoal://node/"q"\\x' },
      { type: 'email', value: 'x,y@z' },
      { type: 'url', value: 'shoal://node/tab\there' },
      { type: 'dns', value: 'a.b' },
      { type: 'ip', value: '10.0.0.1' },
    ];
    const cert = await certWith(names);
    expect(parseSubjectAltName(cert.subjectAltName)).toEqual([
      { type: 'URI', value: names[0]!.value },
      { type: 'URI', value: names[1]!.value },
      { type: 'email', value: names[2]!.value },
      { type: 'URI', value: names[3]!.value },
      { type: 'DNS', value: 'a.b' },
      { type: 'IP Address', value: '10.0.0.1' },
    ]);
  });
});

describe('nodeIdFromCertificate', () => {
  it('needs exactly one valid id in a shoal URI SAN', async () => {
    expect(nodeIdFromCertificate(await certWith([{ type: 'url', value: 'shoal://node/n1' }, { type: 'dns', value: 'n1.shoal' }]))).toBe('n1');
    expect(nodeIdFromCertificate(await certWith([{ type: 'url', value: 'shoal://node/n1' }, { type: 'url', value: 'shoal://node/n1' }]))).toBe('n1');
    expect(nodeIdFromCertificate(await certWith([{ type: 'url', value: 'shoal://node/n1' }, { type: 'url', value: 'shoal://node/n2' }]))).toBeUndefined();
    // A comma inside one URI does not make two entries.
    expect(nodeIdFromCertificate(await certWith([{ type: 'url', value: 'shoal://node/n1, URI:shoal://node/n1' }]))).toBeUndefined();
    expect(nodeIdFromCertificate(await certWith([{ type: 'dns', value: 'n1.shoal' }]))).toBeUndefined();
    expect(nodeIdFromCertificate(await certWith([]))).toBeUndefined();
    expect(nodeIdFromCertificate(await certWith([{ type: 'url', value: 'shoal://node/a b' }]))).toBeUndefined();
    expect(nodeIdFromCertificate(await certWith([{ type: 'url', value: 'https://node/n1' }]))).toBeUndefined();
  });
});

describe('certificate dates', () => {
  it('reads OpenSSL time strings', () => {
    expect(parseCertificateTime('Mar  1 01:02:03 2029 GMT')).toBe(Date.UTC(2029, 2, 1, 1, 2, 3));
    expect(parseCertificateTime('Dec 31 23:59:59 2060 GMT')).toBe(Date.UTC(2060, 11, 31, 23, 59, 59));
    expect(parseCertificateTime('Dec 31 23:59:59.5 2060 GMT')).toBe(Date.UTC(2060, 11, 31, 23, 59, 59));
    expect(parseCertificateTime('nonsense')).toBeNaN();
  });

  it('gives the validity window of a certificate, UTCTime and GeneralizedTime', async () => {
    const cert = await certWith([], new Date('1999-03-01T01:02:03Z'), new Date('2060-12-31T23:59:59Z'));
    expect(certificateValidity(cert)).toEqual({ notBefore: new Date('1999-03-01T01:02:03Z'), notAfter: new Date('2060-12-31T23:59:59Z') });
  });

  it('parseCertificatePem refuses what is not a certificate', () => {
    expect(() => parseCertificatePem('not a pem', 'thing')).toThrow(CertificateError);
    expect(() => parseCertificatePem('not a pem', 'thing')).toThrow(/thing is not a PEM X.509 certificate/);
  });
});
