/**
 * The built node app as a user meets it: --help and bad values (exit codes), the
 * zero-config start (dev CA + certificate made once in ./.shoal and reused, a generated id
 * kept there), a second node started with the exact command from the first one's banner
 * joining it, the admin API (metrics, self, validation), POST /v1/leave, and restart
 * with the same id.
 *
 * Ports are 0 (picked by the OS) so that the test never collides with a running node;
 * every other setting is the default.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ENV_NAMES, FLAGS } from '../src/flags.js';
import { getJson, MAIN, type NodeProc, spawnNode, until } from './support/node-proc.js';

const FREE_PORTS = ['--bind', '127.0.0.1:0', '--http', '127.0.0.1:0'];
const START_TIMEOUT_MS = 10_000;
const JOIN_TIMEOUT_MS = 10_000;

function runMain(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 15_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the built node app', () => {
  let cwd: string;
  const procs: NodeProc[] = [];
  let a: NodeProc;
  let b: NodeProc;

  function start(name: string, args: string[]): NodeProc {
    const p = spawnNode(name, args, { cwd });
    procs.push(p);
    return p;
  }

  async function started(p: NodeProc): Promise<{ id: string; join: string }> {
    const line = await p.waitFor((l) => l.event === 'node.started', START_TIMEOUT_MS, 'node.started');
    p.gossip = line['gossip'] as string;
    p.admin = line['admin'] as string;
    return { id: line['id'] as string, join: line['join'] as string };
  }

  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build the app first (npx nx run node:build)`);
    cwd = mkdtempSync(path.join(tmpdir(), 'shoal-node-'));
  });

  afterAll(async () => {
    for (const p of procs) if (!p.exited) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exit));
    rmSync(cwd, { recursive: true, force: true });
  });

  it('--help lists every flag with its variable and default, exit 0', () => {
    const r = runMain(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: node apps\/node\/dist\/main.js \[flags\]/);
    for (const f of FLAGS) {
      expect(r.stdout).toContain(`--${f.flag}`);
      expect(r.stdout).toContain(f.env);
    }
    expect(ENV_NAMES.length).toBe(FLAGS.length);
  });

  it('a bad value exits 2 with one line naming the flag and the variable', () => {
    const viaFlag = runMain(['--preset', 'fast']);
    expect(viaFlag.status).toBe(2);
    expect(viaFlag.stderr.trim()).toMatch(/^shoal: invalid --preset \(SHOAL_PRESET\): "fast": must be one of lan, wan, local/);
    expect(viaFlag.stderr.trim().split('\n')).toHaveLength(1);
    const viaEnv = runMain([], { SHOAL_BIND: '127.0.0.1:99999' });
    expect(viaEnv.status).toBe(2);
    expect(viaEnv.stderr).toMatch(/invalid --bind \(SHOAL_BIND\): "127\.0\.0\.1:99999": port 99999 is outside 0-65535/);
  });

  it('zero-config: makes a dev CA and certificate and an id in ./.shoal, prints a banner with the command for a second node', async () => {
    a = start('a', FREE_PORTS);
    const { id, join } = await started(a);
    expect(id).toMatch(/^node-[0-9a-f]{8}$/);
    expect(existsSync(path.join(cwd, '.shoal', 'tls', 'ca', 'ca.pem'))).toBe(true);
    expect(existsSync(path.join(cwd, '.shoal', 'tls', `node-${id}`, `${id}.pem`))).toBe(true);
    expect(join).toBe(`npx shoal agent --seeds ${a.gossip} --bind 127.0.0.1:0 --http 127.0.0.1:0`);
    await until(async () => a.stderr.join('').includes(join), 2000, 'banner on stderr');
    const banner = a.stderr.join('');
    for (const part of [id, a.gossip, a.admin, 'Start a second node that joins this one:']) expect(banner).toContain(part);
  }, 20_000);

  it('a second node started from the same directory with the banner\'s command joins the first', async () => {
    const join = a.lines.find((l) => l.event === 'node.started')!['join'] as string;
    const args = join.replace(/^npx shoal agent /, '').split(' ');
    b = start('b', args);
    const { id: idB } = await started(b);
    const idA = a.lines.find((l) => l.event === 'node.started')!['id'] as string;
    expect(idB).not.toBe(idA);
    for (const p of [a, b]) {
      await until(
        async () => (await getJson<{ members: { id: string }[] }>(`${p.admin}/v1/members?state=alive`)).body.members.length === 2,
        JOIN_TIMEOUT_MS,
        `${p.id} sees two alive members`,
      );
    }
    // One CA, shared; one certificate per id.
    expect(readdirSync(path.join(cwd, '.shoal', 'tls')).sort()).toEqual(['ca', `node-${idA}`, `node-${idB}`].sort());
    const ready = await getJson<{ status: string; info: Record<string, { status: string }> }>(`${b.admin}/health/ready`);
    expect(ready.status).toBe(200);
    expect(ready.body.info['seeds']!.status).toBe('up');
  }, 20_000);

  it('admin API: live, self, metrics, and 400 with reasons on bad input', async () => {
    const live = await getJson<{ status: string }>(`${a.admin}/health/live`);
    expect(live).toMatchObject({ status: 200, body: { status: 'ok' } });
    const self = await getJson<{ id: string; address: string; state: string; incarnation: number; tags: object }>(`${a.admin}/v1/self`);
    expect(self.body).toMatchObject({ address: a.gossip, state: 'alive', tags: {} });
    const metrics = await fetch(`${a.admin}/metrics`, { signal: AbortSignal.timeout(3000) });
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await metrics.text();
    expect(text).toMatch(/^shoal_members\{state="alive"\} 2$/m);
    const badQuery = await getJson<{ message: string[] }>(`${a.admin}/v1/members?state=gone&tag==x`);
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.message.join(' | ')).toMatch(/each tag must be a selector.*\| each state must be one of alive, suspect, failed, left/);
    const unknownField = await getJson<{ message: string[] }>(`${a.admin}/v1/self/tags`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tags: {}, extra: 1 }),
    });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.message).toContain('property extra should not exist');
    const tooBig = await getJson<{ message: string[] }>(`${a.admin}/v1/self/tags`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tags: { big: 'x'.repeat(2000) } }),
    });
    expect(tooBig.status).toBe(400);
    expect(tooBig.body.message.join()).toMatch(/maxTagsBytes/);
    const missing = await getJson<{ message: string[] }>(`${a.admin}/v1/self/tags`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(missing.status).toBe(400);
  });

  it('GET / is the live view: HTML under a strict CSP, whose one script is served beside it', async () => {
    const page = await fetch(`${a.admin}/`, { signal: AbortSignal.timeout(3000) });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'; connect-src 'self'/);
    expect(page.headers.get('x-powered-by')).toBeNull();
    const html = await page.text();
    const src = /<script src="([^"]+)"><\/script>/.exec(html)![1]!;
    const script = await fetch(`${a.admin}${src}`, { signal: AbortSignal.timeout(3000) });
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    const code = await script.text();
    expect(() => new Function(code)).not.toThrow(); // the built app's functions as text still parse
    expect(code).toContain("fetch('/v1/members'");
  });

  it('POST /v1/leave: 202, the node leaves and exits 0; the other logs member.left', async () => {
    const idB = b.lines.find((l) => l.event === 'node.started')!['id'] as string;
    const r = await getJson<{ id: string; status: string }>(`${b.admin}/v1/leave`, { method: 'POST' });
    expect(r).toEqual({ status: 202, body: { id: idB, status: 'leaving' } });
    expect((await b.exit).code).toBe(0);
    expect(b.lines.some((l) => l.event === 'node.stopped')).toBe(true);
    await a.waitFor((l) => l.event === 'member.left' && l.member === idB, JOIN_TIMEOUT_MS, `member.left ${idB}`);
    expect(a.memberEvents('member.failed', idB)).toEqual([]);
  }, 20_000);

  it('SIGTERM exits 0; started again from the same directory, the node keeps its id and certificate', async () => {
    const idA = a.lines.find((l) => l.event === 'node.started')!['id'] as string;
    a.child.kill('SIGTERM');
    expect((await a.exit).code).toBe(0);
    const again = start('a2', FREE_PORTS);
    const { id } = await started(again);
    expect(id).toBe(idA);
    expect(again.lines.find((l) => l.msg === 'using development certificates (not for production: every node sharing this data dir shares the CA key)')).toMatchObject({ created: false });
    // A client that never finishes its request does not hold the exit up (the bound is 10 s).
    const [host, port] = again.admin.replace('http://', '').split(':');
    const slow = net.connect(Number(port), host);
    slow.on('error', () => undefined); // the node resets it on the way out
    const slowClosed = new Promise((r) => slow.once('close', r));
    await new Promise((r) => slow.once('connect', r));
    slow.write('PUT /v1/self/tags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
    const t0 = Date.now();
    again.child.kill('SIGTERM');
    expect((await again.exit).code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(3000);
    await slowClosed;
  }, 20_000);
});
