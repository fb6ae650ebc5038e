/**
 * Certificate files on disk. Keys are written with mode 0600 and never overwritten
 * silently. File names:
 *   CA:   <dir>/ca.pem, <dir>/ca-key.pem
 *   node: <dir>/<nodeId>.pem, <dir>/<nodeId>-key.pem
 * Dev certificates (ensureDevCertificates) live in <dataDir>/tls/: the CA in
 * tls/ca/, each node's pair in tls/node-<nodeId>/. Each directory is first written
 * under a temporary name and then renamed into place, so two processes starting
 * together never see (or produce) a half-written pair: the loser of the rename
 * race reads the winner's files.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CertificateError } from '../errors.js';
import { createClusterCa, issueNodeCertificate } from './ca.js';
import { type CertificatePair, assertNodeId, certificateValidity, parseCertificatePem } from './certificate.js';
import { verifyPeerChain } from './verify.js';

export const CA_CERT_FILE = 'ca.pem';
export const CA_KEY_FILE = 'ca-key.pem';
export const KEY_FILE_MODE = 0o600;
export const DIR_MODE = 0o700;
/** Largest PEM file read (certificates and keys are a few KiB). */
export const MAX_PEM_FILE_BYTES = 1024 * 1024;

export function nodeCertFile(nodeId: string): string {
  return `${nodeId}.pem`;
}
export function nodeKeyFile(nodeId: string): string {
  return `${nodeId}-key.pem`;
}

/** The three PEMs a QuicEndpoint needs. */
export interface TlsMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface CaFiles {
  certPath: string;
  keyPath: string;
}

export interface NodeFiles {
  certPath: string;
  keyPath: string;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

async function writeNew(file: string, data: string, mode: number, overwrite: boolean): Promise<void> {
  try {
    await fs.writeFile(file, data, { mode, flag: overwrite ? 'w' : 'wx' });
    await fs.chmod(file, mode); // writeFile's mode is filtered by umask and ignored for existing files
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new CertificateError(`${file} already exists (refusing to overwrite)`, { cause: e });
    throw new CertificateError(`cannot write ${file}: ${(e as Error).message}`, { cause: e });
  }
}

async function readPem(file: string, what: string): Promise<string> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (e) {
    throw new CertificateError(`cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  if (!stat.isFile()) throw new CertificateError(`${what} ${file} is not a file`);
  if (stat.size > MAX_PEM_FILE_BYTES) throw new CertificateError(`${what} ${file} is larger than ${MAX_PEM_FILE_BYTES} bytes`);
  const text = await fs.readFile(file, 'utf8');
  if (!/-----BEGIN [A-Z ]+-----/.test(text)) throw new CertificateError(`${what} ${file} is not PEM`);
  return text;
}

/** Creates a cluster CA and writes it to <dir>/ca.pem and <dir>/ca-key.pem (0600). Refuses to overwrite unless `overwrite`. */
export async function writeCaFiles(
  dir: string,
  opts: { commonName?: string; validityDays?: number; overwrite?: boolean } = {},
): Promise<CaFiles & CertificatePair> {
  await fs.mkdir(dir, { recursive: true, mode: DIR_MODE });
  const certPath = path.join(dir, CA_CERT_FILE);
  const keyPath = path.join(dir, CA_KEY_FILE);
  const overwrite = opts.overwrite ?? false;
  if (!overwrite) {
    for (const p of [certPath, keyPath]) if (await exists(p)) throw new CertificateError(`${p} already exists (refusing to overwrite)`);
  }
  const ca = await createClusterCa({ commonName: opts.commonName, validityDays: opts.validityDays });
  await writeNew(keyPath, ca.keyPem, KEY_FILE_MODE, overwrite);
  await writeNew(certPath, ca.certPem, 0o644, overwrite);
  return { certPath, keyPath, ...ca };
}

/** Reads <dir>/ca.pem and <dir>/ca-key.pem. */
export async function readCaFiles(dir: string): Promise<CertificatePair> {
  const certPem = await readPem(path.join(dir, CA_CERT_FILE), 'CA certificate');
  const keyPem = await readPem(path.join(dir, CA_KEY_FILE), 'CA key');
  parseCertificatePem(certPem, `CA certificate ${path.join(dir, CA_CERT_FILE)}`);
  return { certPem, keyPem };
}

/** Writes a node pair to <dir>/<nodeId>.pem and <dir>/<nodeId>-key.pem (0600). */
export async function writeNodeFiles(dir: string, nodeId: string, pair: CertificatePair, opts: { overwrite?: boolean } = {}): Promise<NodeFiles> {
  assertNodeId(nodeId);
  await fs.mkdir(dir, { recursive: true, mode: DIR_MODE });
  const certPath = path.join(dir, nodeCertFile(nodeId));
  const keyPath = path.join(dir, nodeKeyFile(nodeId));
  const overwrite = opts.overwrite ?? false;
  if (!overwrite) {
    for (const p of [certPath, keyPath]) if (await exists(p)) throw new CertificateError(`${p} already exists (refusing to overwrite)`);
  }
  await writeNew(keyPath, pair.keyPem, KEY_FILE_MODE, overwrite);
  await writeNew(certPath, pair.certPem, 0o644, overwrite);
  return { certPath, keyPath };
}

/** Loads the three PEM files a node needs, with clear errors naming the file. */
export async function loadTlsFiles(paths: { caPath: string; certPath: string; keyPath: string }): Promise<TlsMaterial> {
  const [caPem, certPem, keyPem] = await Promise.all([
    readPem(paths.caPath, 'CA certificate'),
    readPem(paths.certPath, 'certificate'),
    readPem(paths.keyPath, 'key'),
  ]);
  parseCertificatePem(caPem, `CA certificate ${paths.caPath}`);
  parseCertificatePem(certPem, `certificate ${paths.certPath}`);
  if (!/-----BEGIN (EC |)PRIVATE KEY-----/.test(keyPem)) throw new CertificateError(`key ${paths.keyPath} is not a PEM private key`);
  return { caPem, certPem, keyPem };
}

/** Writes files into a fresh temporary sibling directory, then renames it to `finalDir`. Returns false if another process won. */
async function publishDir(finalDir: string, fill: (tmpDir: string) => Promise<void>): Promise<boolean> {
  const tmpDir = `${finalDir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await fs.mkdir(tmpDir, { recursive: true, mode: DIR_MODE });
  try {
    await fill(tmpDir);
    await fs.rename(tmpDir, finalDir);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    await fs.rm(tmpDir, { recursive: true, force: true });
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw e;
  }
}

export interface DevCertificates extends TlsMaterial {
  caPath: string;
  certPath: string;
  keyPath: string;
  /** True when this call created the node certificate (false: reused from disk). */
  created: boolean;
}

/**
 * Development certificates: creates a dev CA once in <dataDir>/tls/ca/ and a node
 * certificate per id in <dataDir>/tls/node-<id>/, reusing both on later starts. A node
 * certificate that no longer verifies against the CA (expired, other CA) is re-issued.
 * Not for production: every node that shares the dataDir shares the CA key.
 */
export async function ensureDevCertificates(dataDir: string, nodeId: string): Promise<DevCertificates> {
  assertNodeId(nodeId);
  const tlsDir = path.join(dataDir, 'tls');
  await fs.mkdir(tlsDir, { recursive: true, mode: DIR_MODE });
  const caDir = path.join(tlsDir, 'ca');
  if (!(await exists(path.join(caDir, CA_KEY_FILE)))) {
    await publishDir(caDir, async (tmp) => {
      await writeCaFiles(tmp, { commonName: 'Shoal Dev CA' });
    });
  }
  const ca = await readCaFiles(caDir);
  const caCert = parseCertificatePem(ca.certPem, 'dev CA certificate');
  if (certificateValidity(caCert).notAfter.getTime() < Date.now()) {
    throw new CertificateError(`the dev CA in ${caDir} has expired; delete ${tlsDir} to start over`);
  }
  const nodeDir = path.join(tlsDir, `node-${nodeId}`);
  const paths = { caPath: path.join(caDir, CA_CERT_FILE), certPath: path.join(nodeDir, nodeCertFile(nodeId)), keyPath: path.join(nodeDir, nodeKeyFile(nodeId)) };
  const usable = async (): Promise<TlsMaterial | undefined> => {
    if (!(await exists(paths.keyPath)) || !(await exists(paths.certPath))) return undefined;
    const m = await loadTlsFiles(paths);
    const der = new Uint8Array(parseCertificatePem(m.certPem).raw);
    const r = verifyPeerChain([der], ca.certPem, new Date());
    return r.ok && r.nodeId === nodeId ? m : undefined;
  };
  const existing = await usable();
  if (existing) return { ...existing, ...paths, created: false };
  const pair = await issueNodeCertificate(ca, { nodeId });
  const won = await publishDir(nodeDir, async (tmp) => {
    await writeNodeFiles(tmp, nodeId, pair);
  });
  if (!won) {
    // Either a concurrent start won the race (use its files) or a stale pair is in the way (replace it).
    const again = await usable();
    if (again) return { ...again, ...paths, created: false };
    await writeNodeFiles(nodeDir, nodeId, pair, { overwrite: true });
  }
  return { caPem: ca.certPem, certPem: pair.certPem, keyPem: pair.keyPem, ...paths, created: true };
}
