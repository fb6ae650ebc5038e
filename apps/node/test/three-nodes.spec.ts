/**
 * The 3-node example, on the BUILT app (apps/node/dist/main.js; the test target depends on
 * build): three node processes join; a tag set with PUT /v1/self/tags spreads; SIGTERM to
 * one → the others log member.left, never member.failed; SIGKILL to another → the last
 * logs member.failed within the bound computed from the preset.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PRESETS } from '@shoal/core';
import { issueNodeCertificate, writeCaFiles, writeNodeFiles } from '@shoal/transport-quic';
import { failureDetectionBoundMs } from '../src/bounds.js';
import { SHUTDOWN_CLOSE_ALLOWANCE_MS } from '../src/flags.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const PRESET = 'local' as const;
const CONFIG = PRESETS[PRESET];
const SHUTDOWN_BOUND_MS = CONFIG.leaveTimeoutMs + SHUTDOWN_CLOSE_ALLOWANCE_MS;
const START_TIMEOUT_MS = 10_000;
const CONVERGE_TIMEOUT_MS = 10_000;

type Line = Record<string, unknown> & { event?: string; member?: string };

class NodeProc {
  readonly lines: Line[] = [];
  readonly stderr: string[] = [];
  private waiters: { pred: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited = false;
  gossip = '';
  admin = '';

  constructor(
    readonly id: string,
    readonly child: ChildProcess,
  ) {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        return;
      }
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(line)) return true;
        w.resolve(line);
        return false;
      });
    });
    child.stderr!.on('data', (d: Buffer) => this.stderr.push(d.toString()));
    this.exit = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exited = true;
        resolve({ code, signal });
      }),
    );
  }

  /** The first line (already logged or to come) matching `pred`, or a rejection after `ms`. */
  waitFor(pred: (l: Line) => boolean, ms: number, what: string): Promise<Line> {
    const seen = this.lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (l: Line) => (clearTimeout(timer), resolve(l)) };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`${this.id}: no ${what} within ${ms} ms\nstderr: ${this.stderr.join('').slice(-2000)}`));
      }, ms);
      this.waiters.push(w);
    });
  }

  memberEvents(event: string, member: string): Line[] {
    return this.lines.filter((l) => l.event === event && l.member === member);
  }
}

async function getJson<T>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(3000) });
  return { status: res.status, body: (await res.json()) as T };
}

async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('three nodes on the built app', () => {
  let dir: string;
  const nodes: NodeProc[] = [];

  function start(id: string, seeds: string[]): NodeProc {
    const args = [MAIN, '--id', id, '--bind', '127.0.0.1:0', '--http', '127.0.0.1:0', '--preset', PRESET, '--data-dir', path.join(dir, id)];
    args.push('--tls-ca', path.join(dir, 'ca', 'ca.pem'), '--tls-cert', path.join(dir, 'ca', `${id}.pem`), '--tls-key', path.join(dir, 'ca', `${id}-key.pem`));
    if (seeds.length) args.push('--seeds', seeds.join(','));
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SHOAL_LOG_LEVEL: 'info' } });
    const n = new NodeProc(id, child);
    nodes.push(n);
    return n;
  }

  async function started(n: NodeProc): Promise<void> {
    const line = await n.waitFor((l) => l.event === 'node.started', START_TIMEOUT_MS, 'node.started line');
    n.gossip = line['gossip'] as string;
    n.admin = line['admin'] as string;
    expect(n.gossip).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(n.admin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  }

  let n1: NodeProc;
  let n2: NodeProc;
  let n3: NodeProc;

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build the app first (npx nx run node:build)`);
    dir = mkdtempSync(path.join(tmpdir(), 'shoal-3nodes-'));
    const caDir = path.join(dir, 'ca');
    const ca = await writeCaFiles(caDir);
    for (const id of ['n1', 'n2', 'n3']) await writeNodeFiles(caDir, id, await issueNodeCertificate(ca, { nodeId: id }));
    n1 = start('n1', []);
    await started(n1);
    n2 = start('n2', [n1.gossip]);
    n3 = start('n3', [n1.gossip]);
    await Promise.all([started(n2), started(n3)]);
  }, 30_000);

  afterAll(async () => {
    for (const n of nodes) if (!n.exited) n.child.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.exit));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('join: every node sees all three alive, and logs member.joined for the other two', async () => {
    for (const n of [n1, n2, n3]) {
      await until(
        async () => {
          const r = await getJson<{ members: { id: string; state: string }[] }>(`${n.admin}/v1/members?state=alive`);
          return r.body.members.map((m) => m.id).join() === 'n1,n2,n3';
        },
        CONVERGE_TIMEOUT_MS,
        `${n.id} sees n1,n2,n3 alive`,
      );
      for (const other of [n1, n2, n3].filter((o) => o !== n)) {
        const line = await n.waitFor((l) => l.event === 'member.joined' && l.member === other.id, CONVERGE_TIMEOUT_MS, `member.joined ${other.id}`);
        expect(line).toMatchObject({ address: other.gossip, incarnation: 0, tags: {}, state: 'alive' });
        expect(typeof line['time']).toBe('number');
      }
      const ready = await getJson<{ status: string }>(`${n.admin}/health/ready`);
      expect(ready.status).toBe(200);
    }
  }, 30_000);

  it('a tag set with PUT /v1/self/tags spreads to the others', async () => {
    const put = await getJson<{ id: string; incarnation: number; tags: Record<string, string> }>(`${n2.admin}/v1/self/tags`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tags: { role: 'api' } }),
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ id: 'n2', tags: { role: 'api' } });
    for (const n of [n1, n3]) {
      const line = await n.waitFor((l) => l.event === 'member.updated' && l.member === 'n2', CONVERGE_TIMEOUT_MS, 'member.updated n2');
      expect(line).toMatchObject({ tags: { role: 'api' }, incarnation: put.body.incarnation });
      const r = await getJson<{ members: { id: string }[] }>(`${n.admin}/v1/members?tag=role=api`);
      expect(r.body.members.map((m) => m.id)).toEqual(['n2']);
    }
    const bad = await getJson<{ message: string[] }>(`${n2.admin}/v1/self/tags`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tags: { role: 7 } }),
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message.join()).toMatch(/must have a string value/);
  }, 30_000);

  it('SIGTERM: the node leaves and exits 0; the others log member.left, not member.failed', async () => {
    const t0 = Date.now();
    n3.child.kill('SIGTERM');
    const { code } = await n3.exit;
    const took = Date.now() - t0;
    expect(code).toBe(0);
    expect(took).toBeLessThan(SHUTDOWN_BOUND_MS);
    for (const n of [n1, n2]) {
      const line = await n.waitFor((l) => l.event === 'member.left' && l.member === 'n3', CONVERGE_TIMEOUT_MS, 'member.left n3');
      expect(line).toMatchObject({ state: 'left', address: n3.gossip });
    }
  }, 30_000);

  it('SIGKILL: the last node logs member.failed within the bound; the left node is never failed', async () => {
    const bound = failureDetectionBoundMs(CONFIG, 2);
    const t0 = Date.now();
    n2.child.kill('SIGKILL');
    await n2.exit;
    const line = await n1.waitFor((l) => l.event === 'member.failed' && l.member === 'n2', bound + 2000, 'member.failed n2');
    const took = (line['time'] as number) - t0;
    expect(took).toBeLessThanOrEqual(bound);
    // The suspicion came first, as SWIM has it.
    expect(n1.memberEvents('member.suspect', 'n2').length).toBeGreaterThanOrEqual(1);
    for (const n of [n1, n2]) expect(n.memberEvents('member.failed', 'n3')).toEqual([]);
    process.stdout.write(`[three-nodes] SIGTERM leave seen by all; SIGKILL detected in ${took} ms (bound ${bound} ms)\n`);
  }, 30_000);
});
