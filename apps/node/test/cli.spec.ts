import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../src/cli.js';
import { membersTable } from '../src/client.js';

interface Recorded {
  method: string;
  url: string;
  body: string;
}

/** A stand-in for a node's admin API. */
function stubNode(): Promise<{ server: Server; addr: string; seen: Recorded[] }> {
  const seen: Recorded[] = [];
  let tags: Record<string, string> = { role: 'api' };
  const self = () => ({ id: 'n1', address: '127.0.0.1:7946', state: 'alive', incarnation: 3, tags });
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, body });
      res.setHeader('content-type', 'application/json');
      if (req.method === 'GET' && req.url!.startsWith('/v1/members')) {
        if (req.url!.includes('state=bogus')) {
          res.statusCode = 400;
          res.end(JSON.stringify({ statusCode: 400, message: ['each state must be one of alive, suspect, failed, left'] }));
          return;
        }
        res.end(
          JSON.stringify({
            node: 'n1',
            members: [self(), { id: 'a-much-longer-node-id', address: '[::1]:40000', state: 'suspect', incarnation: 12, tags: { zone: 'eu-1', b: '2' } }],
          }),
        );
      } else if (req.method === 'GET' && req.url === '/v1/self') res.end(JSON.stringify(self()));
      else if (req.method === 'PUT' && req.url === '/v1/self/tags') {
        tags = (JSON.parse(body) as { tags: Record<string, string> }).tags;
        res.end(JSON.stringify(self()));
      } else if (req.method === 'POST' && req.url === '/v1/leave') {
        res.statusCode = 202;
        res.end(JSON.stringify({ id: 'n1', status: 'leaving' }));
      } else if (req.url === '/not-json') {
        res.setHeader('content-type', 'text/html');
        res.end('<html>');
      } else {
        res.statusCode = 404;
        res.end(JSON.stringify({ statusCode: 404, message: 'Cannot GET' }));
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, addr: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen })),
  );
}

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** A port nothing listens on: bind one, close it. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

describe('shoal command', () => {
  let stub: Awaited<ReturnType<typeof stubNode>>;
  beforeAll(async () => {
    stub = await stubNode();
  });
  afterAll(() => new Promise<void>((r) => stub.server.close(() => r())));

  it('members: an aligned table of id, address, state, incarnation, tags', async () => {
    const r = await cli(['members', '--http', stub.addr]);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines).toEqual([
      'ID                     ADDRESS         STATE    INCARNATION  TAGS',
      'n1                     127.0.0.1:7946  alive    3            role=api',
      'a-much-longer-node-id  [::1]:40000     suspect  12           b=2,zone=eu-1',
    ]);
  });

  it('members --json, with filters passed to the node, and SHOAL_HTTP picking the node', async () => {
    const r = await cli(['members', '--json', '--tag', 'role=api', '--state=alive'], { SHOAL_HTTP: stub.addr });
    expect(r.code).toBe(0);
    const parsed = JSON.parse(r.out) as { id: string }[];
    expect(parsed.map((m) => m.id)).toEqual(['n1', 'a-much-longer-node-id']);
    expect(stub.seen.at(-1)!.url).toBe('/v1/members?tag=role%3Dapi&state=alive');
  });

  it('members: repeated filters, --http=value, and filter values starting with a dash', async () => {
    const r = await cli(['members', `--http=${stub.addr}`, '--tag', 'a=b', '--tag', '-k=v', '--state', 'alive', '--state=suspect']);
    expect(r.code).toBe(0);
    expect(stub.seen.at(-1)!.url).toBe('/v1/members?tag=a%3Db&tag=-k%3Dv&state=alive&state=suspect');
  });

  it('passes the node\'s 400 reasons on, exit 1', async () => {
    const r = await cli(['members', '--http', stub.addr, '--state', 'bogus']);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`shoal: the node at http://${stub.addr} answered 400: each state must be one of alive, suspect, failed, left`);
  });

  it('tags set merges into the current tags; tags delete removes keys', async () => {
    let r = await cli(['tags', 'set', 'zone=eu-2', 'tier=gold', '--http', stub.addr]);
    expect(r.code).toBe(0);
    expect(JSON.parse(stub.seen.at(-1)!.body)).toEqual({ tags: { role: 'api', zone: 'eu-2', tier: 'gold' } });
    expect(r.out).toContain('role=api,tier=gold,zone=eu-2');
    r = await cli(['tags', 'delete', 'role', '--http', stub.addr]);
    expect(r.code).toBe(0);
    expect(JSON.parse(stub.seen.at(-1)!.body)).toEqual({ tags: { zone: 'eu-2', tier: 'gold' } });
    // A key starting with a dash goes after `--`.
    r = await cli(['tags', 'set', '--http', stub.addr, '--', '-k=v']);
    expect(r.code).toBe(0);
    expect(JSON.parse(stub.seen.at(-1)!.body)).toEqual({ tags: { zone: 'eu-2', tier: 'gold', '-k': 'v' } });
    r = await cli(['tags', 'delete', '--http', stub.addr, '--', '-k']);
    expect(r.code).toBe(0);
    expect(JSON.parse(stub.seen.at(-1)!.body)).toEqual({ tags: { zone: 'eu-2', tier: 'gold' } });
  });

  it('leave posts to /v1/leave', async () => {
    const r = await cli(['leave', '--http', stub.addr]);
    expect(r.code).toBe(0);
    expect(stub.seen.at(-1)).toMatchObject({ method: 'POST', url: '/v1/leave' });
    expect(r.out).toMatch(/node n1 is leaving/);
  });

  it('a node that cannot be reached: one clear line, exit 1', async () => {
    const port = await closedPort();
    for (const argv of [['members'], ['tags', 'set', 'a=b'], ['leave']]) {
      const r = await cli([...argv, '--http', `127.0.0.1:${port}`]);
      expect(r.code).toBe(1);
      expect(r.err).toBe(`shoal: cannot reach the node at http://127.0.0.1:${port} (connection refused): is it running? pick another with --http host:port`);
      expect(r.err.split('\n')).toHaveLength(1);
    }
  });

  it('a node that does not answer in time: exit 1 naming the timeout', async () => {
    const silent = createServer(() => undefined); // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const addr = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const r = await cli(['members', '--http', addr, '--timeout', '100']);
      expect(r.code).toBe(1);
      expect(r.err).toBe(`shoal: no answer from the node at http://${addr} within 100 ms`);
    } finally {
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
  });

  it.each([
    [[], /usage: shoal/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['members', '--http', 'nope'], /--http \(SHOAL_HTTP\) "nope"/],
    [['members', '--bogus'], /unknown option --bogus/],
    [['tags'], /"set" or "delete"/],
    [['tags', 'set'], /needs key=value pairs/],
    [['tags', 'set', 'novalue'], /expected key=value/],
    [['members', '--timeout', '0'], /--timeout must be/],
    [['members', '--timeout=soon'], /--timeout must be 1-600000 ms, got "soon"/],
    [['members', '--http'], /--http needs a value/],
    [['members', '--tag', '--json'], /--tag needs a value/],
    [['members', '--json=yes'], /--json takes no value/],
    [['members', '-j'], /unknown option -j/],
    [['members', 'extra'], /unexpected argument "extra"/],
    [['leave', '--json'], /unknown option --json/],
    [['tags', 'set', 'a=b', '--state', 'alive'], /unknown option --state/],
  ])('usage error %j → exit 2', async (argv, message) => {
    const r = await cli(argv as string[]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  it('help → exit 0 on stdout', async () => {
    const r = await cli(['help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^usage: shoal <command>/);
  });

  it('certs init and issue run the transport\'s certs command', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'shoal-cli-certs-'));
    try {
      expect((await cli(['certs', 'init', '--dir', dir])).code).toBe(0);
      const r = await cli(['certs', 'issue', '--dir', dir, '--id', 'node-1']);
      expect(r.code).toBe(0);
      expect(readFileSync(path.join(dir, 'node-1.pem'), 'utf8')).toMatch(/BEGIN CERTIFICATE/);
      const again = await cli(['certs', 'init', '--dir', dir]);
      expect(again.code).toBe(1);
      expect(again.err).toMatch(/^shoal certs: .*already exists/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('membersTable of no members is just the header', () => {
    expect(membersTable([])).toBe('ID  ADDRESS  STATE  INCARNATION  TAGS');
  });
});
