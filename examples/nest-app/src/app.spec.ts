/**
 * Boots the example twice (two nodes, real QUIC and HTTP on loopback, dev certificates in a
 * temporary data dir) and checks what a user of it would see.
 */
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { INestApplication } from '@nestjs/common';
import { ClusterMembership } from '@shoal/nest';
import { pino } from 'pino';
import { createApp } from './app.js';
import { settingsFromEnv, SettingsError } from './settings.js';

interface LogLine {
  event?: string;
  member?: string;
  address?: string;
  incarnation?: number;
  tags?: Record<string, string>;
  time?: number;
}

function capture(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('examples/nest-app', () => {
  let dataDir: string;
  let first: INestApplication;
  let second: INestApplication | undefined;
  let firstUrl: string;
  const firstLog = capture();

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'shoal-example-'));
    const env = { SHOAL_ID: 'ex-1', SHOAL_DATA_DIR: dataDir, HTTP_PORT: '0', SHOAL_TAGS: 'role=web' };
    first = await createApp(settingsFromEnv(env), firstLog.logger);
    await first.listen(0, '127.0.0.1');
    firstUrl = await first.getUrl();
    const seed = first.get(ClusterMembership).address;
    second = await createApp(settingsFromEnv({ SHOAL_ID: 'ex-2', SHOAL_DATA_DIR: dataDir, HTTP_PORT: '0', SHOAL_SEEDS: seed }), capture().logger);
    await second.listen(0, '127.0.0.1');
  }, 30_000);

  afterAll(async () => {
    await Promise.all([first?.close(), second?.close()]);
    await rm(dataDir, { recursive: true, force: true });
  }, 30_000);

  it('rejects a bad setting naming the variable', () => {
    expect(() => settingsFromEnv({ HTTP_PORT: 'x' })).toThrow(SettingsError);
    expect(() => settingsFromEnv({ HTTP_PORT: 'x' })).toThrow(/HTTP_PORT/);
    expect(() => settingsFromEnv({ SHOAL_TAGS: 'novalue' })).toThrow(/SHOAL_TAGS/);
  });

  it('the second node joins: /members lists both, and a member.joined line is logged', async () => {
    const members = await waitFor('two alive members over HTTP', async () => {
      const res = await fetch(`${firstUrl}/members?state=alive`);
      const body = (await res.json()) as Array<{ id: string }>;
      return body.length === 2 && body;
    });
    expect(members.map((m) => m.id)).toEqual(['ex-1', 'ex-2']);
    const line = await waitFor('member.joined log line', () => firstLog.lines.find((l) => l.event === 'member.joined' && l.member === 'ex-2'));
    expect(line).toMatchObject({ address: expect.stringMatching(/^127\.0\.0\.1:\d+$/), incarnation: expect.any(Number), tags: {}, time: expect.any(Number) });
    const byTag = (await (await fetch(`${firstUrl}/members?tag=role=web`)).json()) as Array<{ id: string }>;
    expect(byTag.map((m) => m.id)).toEqual(['ex-1']);
    expect((await fetch(`${firstUrl}/members?state=dead`)).status).toBe(400);
  });

  it('serves readiness, liveness and metrics', async () => {
    const ready = await waitFor('ready', async () => {
      const res = await fetch(`${firstUrl}/health/ready`);
      return res.status === 200 && ((await res.json()) as { status: string });
    });
    expect(ready.status).toBe('ok');
    expect((await fetch(`${firstUrl}/health/live`)).status).toBe(200);
    const metrics = await (await fetch(`${firstUrl}/metrics`)).text();
    expect(metrics).toContain('shoal_members{state="alive"} 2');
  });

  it('closing the second node is logged as member.left by the first, not member.failed', async () => {
    await second!.close();
    second = undefined;
    await waitFor('member.left log line', () => firstLog.lines.find((l) => l.event === 'member.left' && l.member === 'ex-2'), 5000);
    expect(firstLog.lines.filter((l) => l.event === 'member.failed')).toEqual([]);
  });
});
