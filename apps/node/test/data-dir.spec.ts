import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { acquireNodeId, DataDirError, loadNodeTls, type HeldId } from '../src/data-dir.js';

describe('data dir', () => {
  let dir: string;
  const held: HeldId[] = [];
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'shoal-datadir-'));
  });
  afterEach(() => {
    for (const h of held.splice(0)) h.release();
    rmSync(dir, { recursive: true, force: true });
  });

  async function take(id?: string): Promise<HeldId> {
    const h = await acquireNodeId(dir, id);
    held.push(h);
    return h;
  }

  it('generates an id once and gives it back on the next start', async () => {
    const a = await take();
    expect(a.generated).toBe(true);
    expect(a.id).toMatch(/^node-[0-9a-f]{8}$/);
    expect(readFileSync(path.join(dir, 'ids', `${a.id}.lock`), 'utf8')).toBe(String(process.pid));
    a.release();
    expect(existsSync(path.join(dir, 'ids', `${a.id}.lock`))).toBe(false);
    const again = await take();
    expect(again.id).toBe(a.id);
  });

  it('a second node beside a running one gets another id, and keeps it', async () => {
    const first = await take();
    const second = await take();
    expect(second.id).not.toBe(first.id);
    second.release();
    const secondAgain = await take();
    expect(secondAgain.id).toBe(second.id);
  });

  it('refuses an explicit id that a live process holds, and takes over a stale lock', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      await new Promise((r) => child.once('spawn', r));
      const ids = path.join(dir, 'ids');
      await take('n1'); // creates ids/
      held.pop()!.release();
      writeFileSync(path.join(ids, 'n1.lock'), String(child.pid));
      await expect(acquireNodeId(dir, 'n1')).rejects.toThrow(DataDirError);
      await expect(acquireNodeId(dir, 'n1')).rejects.toThrow(/already in use by process/);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    const h = await take('n1'); // the holder is gone: its lock is stale
    expect(h.id).toBe('n1');
  });

  it('makes dev certificates once and reuses them; shared CA across ids', async () => {
    const a1 = await loadNodeTls(dir, 'a', undefined);
    const a2 = await loadNodeTls(dir, 'a', undefined);
    const b = await loadNodeTls(dir, 'b', undefined);
    expect(a1.source).toBe('dev');
    expect(a1.created).toBe(true);
    expect(a2.created).toBe(false);
    expect(a2.certPem).toBe(a1.certPem);
    expect(b.caPem).toBe(a1.caPem);
    const files = await loadNodeTls(dir, 'a', { caPath: a1.caPath, certPath: a1.certPath, keyPath: a1.keyPath });
    expect(files.source).toBe('files');
    expect(files.keyPem).toBe(a1.keyPem);
  });
});
