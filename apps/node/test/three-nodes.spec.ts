/**
 * The 3-node example, on the BUILT app (apps/node/dist/main.js; the test target depends on
 * build): three node processes join; a tag set with PUT /v1/self/tags spreads; SIGTERM to
 * one → the others log member.left, never member.failed; SIGKILL to another → the last
 * logs member.failed within the bound computed from the preset.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PRESETS } from '@shoal/core';
import { issueNodeCertificate, writeCaFiles, writeNodeFiles } from '@shoal/transport-quic';
import { failureDetectionBoundMs } from '../src/bounds.js';
import { SHUTDOWN_CLOSE_ALLOWANCE_MS } from '../src/flags.js';
import { getJson, MAIN, NodeProc, spawnNode, until } from './support/node-proc.js';
const PRESET = 'local' as const;
const CONFIG = PRESETS[PRESET];
const SHUTDOWN_BOUND_MS = CONFIG.leaveTimeoutMs + SHUTDOWN_CLOSE_ALLOWANCE_MS;
const START_TIMEOUT_MS = 10_000;
const CONVERGE_TIMEOUT_MS = 10_000;

describe('three nodes on the built app', () => {
  let dir: string;
  const nodes: NodeProc[] = [];

  function start(id: string, seeds: string[]): NodeProc {
    const args = ['--id', id, '--bind', '127.0.0.1:0', '--http', '127.0.0.1:0', '--preset', PRESET, '--data-dir', path.join(dir, id)];
    args.push('--tls-ca', path.join(dir, 'ca', 'ca.pem'), '--tls-cert', path.join(dir, 'ca', `${id}.pem`), '--tls-key', path.join(dir, 'ca', `${id}-key.pem`));
    if (seeds.length) args.push('--seeds', seeds.join(','));
    const n = spawnNode(id, args);
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
