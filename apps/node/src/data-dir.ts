/**
 * The node's data directory (default `.shoal/` under the working directory):
 *
 *   <data-dir>/ids/<id>        one empty file per generated id, kept across restarts
 *   <data-dir>/ids/<id>.lock   held while a process runs as <id> (holds its pid)
 *   <data-dir>/tls/...         dev CA and node certificates (ensureDevCertificates)
 *
 * Without --id, a node takes the oldest generated id that no live process holds, or
 * makes a new one: the first node started from a checkout keeps its id across restarts,
 * and a second node started beside it gets (and keeps) another.
 */
import { promises as fs, rmSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ensureDevCertificates, loadTlsFiles, type TlsMaterial } from '@shoal/transport-quic';

export const IDS_DIR = 'ids';
export const GENERATED_ID_PREFIX = 'node-';
/** Most generated ids kept in a data dir; past it, starting without --id fails with a clear error. */
export const MAX_GENERATED_IDS = 256;

export class DataDirError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DataDirError';
  }
}

/** An id this process holds; release() removes the lock (also done on process exit). */
export interface HeldId {
  id: string;
  generated: boolean;
  release(): void;
}

/** Ids this process holds (a lock with our own pid that is not in here is a leftover from an earlier life: containers reuse pids). */
const heldHere = new Set<string>();

function alive(pid: number, lock: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return heldHere.has(lock);
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock of `id`; returns the pid of a live holder when it cannot. */
async function tryLock(dir: string, id: string): Promise<{ ok: true; release: () => void } | { ok: false; holder: number }> {
  const lock = path.join(dir, `${id}.lock`);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fs.writeFile(lock, String(process.pid), { flag: 'wx', mode: 0o644 });
      heldHere.add(lock);
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        heldHere.delete(lock);
        process.off('exit', release);
        try {
          rmSync(lock, { force: true });
        } catch {
          /* the data dir went away: nothing to release */
        }
      };
      process.on('exit', release);
      return { ok: true, release };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new DataDirError(`cannot write ${lock}: ${(e as Error).message}`, { cause: e });
    }
    const holder = Number((await fs.readFile(lock, 'utf8').catch(() => '')).trim());
    if (alive(holder, lock)) return { ok: false, holder };
    await fs.rm(lock, { force: true }); // stale: its process is gone
  }
  return { ok: false, holder: 0 };
}

async function ensureDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new DataDirError(`cannot create ${dir}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The id this node runs as. With `explicit`, that id (refused when another live process
 * holds it in this data dir); without, a generated id as described above.
 */
export async function acquireNodeId(dataDir: string, explicit: string | undefined): Promise<HeldId> {
  const dir = path.join(dataDir, IDS_DIR);
  await ensureDir(dir);
  if (explicit !== undefined) {
    const r = await tryLock(dir, explicit);
    if (!r.ok) throw new DataDirError(`node id ${explicit} is already in use by process ${r.holder} (data dir ${dataDir}); pick another --id or --data-dir`);
    return { id: explicit, generated: false, release: r.release };
  }
  const known: { id: string; at: number }[] = [];
  for (const name of await fs.readdir(dir)) {
    if (name.endsWith('.lock') || name.includes('.tmp')) continue;
    const st = await fs.stat(path.join(dir, name)).catch(() => undefined);
    if (st?.isFile()) known.push({ id: name, at: st.birthtimeMs || st.mtimeMs });
  }
  known.sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1));
  for (const k of known) {
    const r = await tryLock(dir, k.id);
    if (r.ok) return { id: k.id, generated: true, release: r.release };
  }
  if (known.length >= MAX_GENERATED_IDS)
    throw new DataDirError(`${dir} already holds ${known.length} generated ids, all in use; give --id or another --data-dir`);
  for (let attempt = 0; attempt < 5; attempt++) {
    const id = `${GENERATED_ID_PREFIX}${randomBytes(4).toString('hex')}`;
    const r = await tryLock(dir, id);
    if (!r.ok) continue;
    try {
      await fs.writeFile(path.join(dir, id), '', { flag: 'wx' });
    } catch (e) {
      r.release();
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw new DataDirError(`cannot write ${path.join(dir, id)}: ${(e as Error).message}`, { cause: e });
    }
    return { id, generated: true, release: r.release };
  }
  throw new DataDirError(`could not make a new node id in ${dir}`);
}

export interface NodeTls extends TlsMaterial {
  /** 'files': --tls-* given; 'dev': dev certificates in the data dir. */
  source: 'files' | 'dev';
  caPath: string;
  certPath: string;
  keyPath: string;
  /** Dev certificates only: made by this start (false: reused). */
  created: boolean;
}

/** The TLS material: the given files, or dev certificates made once in <data-dir>/tls and reused. */
export async function loadNodeTls(dataDir: string, id: string, files: { caPath: string; certPath: string; keyPath: string } | undefined): Promise<NodeTls> {
  if (files) {
    const m = await loadTlsFiles(files);
    return { ...m, ...files, source: 'files', created: false };
  }
  const dev = await ensureDevCertificates(dataDir, id);
  return { caPem: dev.caPem, certPem: dev.certPem, keyPem: dev.keyPem, caPath: dev.caPath, certPath: dev.certPath, keyPath: dev.keyPath, source: 'dev', created: dev.created };
}
