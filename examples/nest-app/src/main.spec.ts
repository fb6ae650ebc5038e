/**
 * The built example as real processes (`nx run example-nest-app:test` builds it first):
 * SIGTERM makes a node leave and exit 0; its peer logs member.left, not member.failed.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const main = path.join(import.meta.dirname, '..', 'dist', 'main.js');

interface Proc {
  child: ChildProcess;
  out: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [main], { env: { ...process.env, HTTP_PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = { child, out: '', exited: new Promise((r) => child.on('exit', (code, signal) => r({ code, signal }))) };
  child.stdout!.on('data', (d: Buffer) => (p.out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (p.out += d.toString()));
  return p;
}

async function waitFor<T>(what: string, check: () => T | undefined | false, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function events(out: string, event: string, member: string): unknown[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event?: string; member?: string })
    .filter((l) => l.event === event && l.member === member);
}

describe('examples/nest-app (built, as processes)', () => {
  let dataDir: string;
  const procs: Proc[] = [];

  beforeAll(async () => {
    if (!existsSync(main)) throw new Error(`${main} is missing: run \`npx nx run example-nest-app:build\` first`);
    dataDir = await mkdtemp(path.join(tmpdir(), 'shoal-example-proc-'));
  });

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await rm(dataDir, { recursive: true, force: true });
  });

  it('SIGTERM: the node leaves and exits 0; the other logs member.left, never member.failed', async () => {
    const first = start({ SHOAL_ID: 'proc-1', SHOAL_DATA_DIR: dataDir });
    procs.push(first);
    const seed = await waitFor('the first node to start', () => /"gossip":"([^"]+)"/.exec(first.out)?.[1]);
    const second = start({ SHOAL_ID: 'proc-2', SHOAL_DATA_DIR: dataDir, SHOAL_SEEDS: seed });
    procs.push(second);
    await waitFor('proc-1 to log proc-2 joined', () => events(first.out, 'member.joined', 'proc-2').length > 0);
    // Shutdown hooks are installed once the app is created: wait for the start line.
    await waitFor('the second node to start', () => second.out.includes('example node started'));

    const t0 = Date.now();
    second.child.kill('SIGTERM');
    const exit = await second.exited;
    const exitMs = Date.now() - t0;
    expect(exit).toEqual({ code: 0, signal: null });
    // Bound: leaveTimeoutMs (local preset: 2 s) + 0.5 s + shutdownCloseTimeoutMs (5 s).
    expect(exitMs).toBeLessThan(7500);
    await waitFor('proc-1 to log proc-2 left', () => events(first.out, 'member.left', 'proc-2').length > 0, 5000);
    expect(events(first.out, 'member.failed', 'proc-2')).toEqual([]);

    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });
  }, 30_000);
});
