import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CertificateError } from '../errors.js';
import { createClusterCa, issueNodeCertificate } from './ca.js';
import { ensureDevCertificates, loadTlsFiles, readCaFiles, writeCaFiles, writeNodeFiles } from './files.js';
import { verifyPeerChain } from './verify.js';
import * as x509 from './x509.js';

const der = (pem: string) => new Uint8Array(new x509.X509Certificate(pem).rawData);
const mode = async (p: string) => (await fs.stat(p)).mode & 0o777;

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-tls-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('CA and node files', () => {
  it('writes the CA with a 0600 key, refuses to overwrite, loads a node triple', async () => {
    const ca = await writeCaFiles(path.join(dir, 'ca'));
    expect(await mode(ca.keyPath)).toBe(0o600);
    await expect(writeCaFiles(path.join(dir, 'ca'))).rejects.toBeInstanceOf(CertificateError);
    const loadedCa = await readCaFiles(path.join(dir, 'ca'));
    expect(loadedCa.certPem).toBe(ca.certPem);
    const pair = await issueNodeCertificate(loadedCa, { nodeId: 'n1' });
    const files = await writeNodeFiles(path.join(dir, 'nodes'), 'n1', pair);
    expect(path.basename(files.certPath)).toBe('n1.pem');
    expect(path.basename(files.keyPath)).toBe('n1-key.pem');
    expect(await mode(files.keyPath)).toBe(0o600);
    await expect(writeNodeFiles(path.join(dir, 'nodes'), 'n1', pair)).rejects.toBeInstanceOf(CertificateError);
    const tls = await loadTlsFiles({ caPath: ca.certPath, certPath: files.certPath, keyPath: files.keyPath });
    expect(tls).toEqual({ caPem: ca.certPem, certPem: pair.certPem, keyPem: pair.keyPem });
  });

  it('loadTlsFiles names the file that is missing or not PEM', async () => {
    const ca = await createClusterCa();
    await fs.writeFile(path.join(dir, 'ca.pem'), ca.certPem);
    await fs.writeFile(path.join(dir, 'junk.pem'), 'hello');
    await expect(loadTlsFiles({ caPath: path.join(dir, 'ca.pem'), certPath: path.join(dir, 'nope.pem'), keyPath: path.join(dir, 'ca.pem') })).rejects.toThrow(/nope\.pem/);
    await expect(loadTlsFiles({ caPath: path.join(dir, 'junk.pem'), certPath: path.join(dir, 'ca.pem'), keyPath: path.join(dir, 'ca.pem') })).rejects.toThrow(/junk\.pem is not PEM/);
    await expect(loadTlsFiles({ caPath: path.join(dir, 'ca.pem'), certPath: path.join(dir, 'ca.pem'), keyPath: path.join(dir, 'ca.pem') })).rejects.toThrow(/not a PEM private key/);
  });
});

describe('ensureDevCertificates', () => {
  it('creates a dev CA once and a node certificate per id, reused on the next start', async () => {
    const a = await ensureDevCertificates(dir, 'node-a');
    expect(a.created).toBe(true);
    expect(verifyPeerChain([der(a.certPem)], a.caPem, new Date())).toEqual({ ok: true, nodeId: 'node-a' });
    expect(await mode(a.keyPath)).toBe(0o600);
    expect(await mode(path.join(dir, 'tls', 'ca', 'ca-key.pem'))).toBe(0o600);
    const again = await ensureDevCertificates(dir, 'node-a');
    expect(again.created).toBe(false);
    expect(again.certPem).toBe(a.certPem);
    expect(again.keyPem).toBe(a.keyPem);
    const b = await ensureDevCertificates(dir, 'node-b');
    expect(b.caPem).toBe(a.caPem);
    expect(b.certPem).not.toBe(a.certPem);
    expect(verifyPeerChain([der(b.certPem)], a.caPem, new Date())).toEqual({ ok: true, nodeId: 'node-b' });
  });

  it('concurrent starts on one data dir agree on one CA', async () => {
    const results = await Promise.all(['x', 'y', 'z', 'x'].map((id) => ensureDevCertificates(dir, id)));
    const cas = new Set(results.map((r) => r.caPem));
    expect(cas.size).toBe(1);
    for (const r of results) expect(verifyPeerChain([der(r.certPem)], r.caPem, new Date()).ok).toBe(true);
    const leftovers = (await fs.readdir(path.join(dir, 'tls'))).filter((f) => f.includes('.tmp-'));
    expect(leftovers).toEqual([]);
  });

  it('re-issues a node certificate that no longer verifies', async () => {
    const a = await ensureDevCertificates(dir, 'node-a');
    const foreign = await issueNodeCertificate(await createClusterCa(), { nodeId: 'node-a' });
    await fs.writeFile(a.certPath, foreign.certPem);
    const again = await ensureDevCertificates(dir, 'node-a');
    expect(again.created).toBe(true);
    expect(verifyPeerChain([der(again.certPem)], a.caPem, new Date())).toEqual({ ok: true, nodeId: 'node-a' });
    expect(await fs.readFile(a.certPath, 'utf8')).toBe(again.certPem);
  });
});
