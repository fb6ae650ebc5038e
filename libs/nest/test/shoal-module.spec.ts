/**
 * ShoalModule over real QUIC on loopback: three Nest application contexts, each with its
 * own ShoalModule and certificates from a CA made here. No mocks of the runtime.
 */
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { MemberEvent } from '@shoal/core';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createClusterCa, issueNodeCertificate, type CertificatePair, type NodeRuntime } from '@shoal/transport-quic';
import {
  ClusterMembership,
  ConnectionPool,
  Gossip,
  HealthChecker,
  MemberEventExplorer,
  OnMemberEvent,
  Registry,
  SHOAL_RUNTIME,
  ShoalHealthIndicator,
  ShoalLifecycle,
  ShoalMetrics,
  ShoalModule,
  ShoalOptionsError,
  type ShoalModuleOptions,
} from '../src/index.js';

const CLUSTER = 'nest-test';
/** Every node logs (warnings and errors) into this array, so the tests can read it and the output stays clean. */
const logLines: Array<{ msg?: string; handler?: string; level?: number }> = [];
const logger = pino(
  { level: 'warn' },
  new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) logLines.push(JSON.parse(l) as (typeof logLines)[number]);
      done();
    },
  }),
);

/** Waits until `check` returns a truthy value, polling; fails with `what` after `ms`. */
async function waitFor<T>(what: string, check: () => T | undefined | false, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

@Injectable()
class EventLog {
  readonly joined: MemberEvent[] = [];
  readonly gone: MemberEvent[] = [];
  readonly all: MemberEvent[] = [];

  @OnMemberEvent('joined')
  onJoined(e: MemberEvent): void {
    this.joined.push(e);
  }

  @OnMemberEvent(['left', 'failed'])
  async onGone(e: MemberEvent): Promise<void> {
    this.gone.push(e);
  }

  @OnMemberEvent()
  onAny(e: MemberEvent): void {
    this.all.push(e);
  }

  @OnMemberEvent('updated')
  onUpdatedThrows(): void {
    throw new Error('handler failure must not break delivery');
  }
}

let ca: CertificatePair;
async function tlsFor(id: string): Promise<ShoalModuleOptions['tls']> {
  const node = await issueNodeCertificate(ca, { nodeId: id });
  return { caPem: ca.certPem, certPem: node.certPem, keyPem: node.keyPem };
}

async function nodeOptions(id: string, extra: Partial<ShoalModuleOptions> = {}): Promise<ShoalModuleOptions> {
  return { id, cluster: CLUSTER, bindHost: '127.0.0.1', bindPort: 0, preset: 'local', tls: await tlsFor(id), logger, ...extra };
}

async function startApp(options: ShoalModuleOptions): Promise<INestApplicationContext> {
  @Module({ imports: [ShoalModule.forRoot(options)], providers: [EventLog] })
  class AppModule {}
  return NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false });
}

describe('ShoalModule: options', () => {
  beforeAll(async () => {
    ca ??= await createClusterCa();
  });

  const bad: Array<[string, (o: ShoalModuleOptions) => Record<string, unknown>]> = [
    ['bindPort', (o) => ({ ...o, bindPort: 70_000 })],
    ['bindHost', (o) => ({ ...o, bindHost: 'bad_host!' })],
    ['advertise', (o) => ({ ...o, advertise: '[zz]:7946' })],
    ['tags', (o) => ({ ...o, tags: { role: 7 } })],
    ['id', (o) => ({ ...o, id: 'no spaces' })],
    ['seeds', (o) => ({ ...o, seeds: ['nohostport'] })],
    ['tls.certPem', (o) => ({ ...o, tls: { ...o.tls, certPem: 'not a pem' } })],
    ['tls', (o) => ({ ...o, tls: undefined })],
    ['pool.maxTotal', (o) => ({ ...o, pool: { maxTotal: 0 } })],
    ['config.probeIntervalMs', (o) => ({ ...o, config: { probeIntervalMs: -5 } })],
    ['config.noSuchSetting', (o) => ({ ...o, config: { noSuchSetting: 1 } })],
    ['preset', (o) => ({ ...o, preset: 'moon' })],
    ['bindPrt', (o) => ({ ...o, bindPrt: 1 })],
    ['readyHealthThreshold', (o) => ({ ...o, readyHealthThreshold: 0 })],
    ['logger', (o) => ({ ...o, logger: { info: 1 } })],
  ];

  it.each(bad)('a bad %s stops the bootstrap with an error naming the key', async (key, make) => {
    const options = make(await nodeOptions('bad-node')) as unknown as ShoalModuleOptions;
    const err = await startApp(options).then(
      async (app) => {
        await app.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ShoalOptionsError);
    expect((err as ShoalOptionsError).key).toBe(key);
    expect((err as Error).message).toContain(`"${key}"`);
  });
});

describe('ShoalModule: a three-node cluster over QUIC', () => {
  let a: INestApplicationContext;
  let b: INestApplicationContext;
  let c: INestApplicationContext | undefined;
  const eventsOfA: MemberEvent[] = [];

  beforeAll(async () => {
    ca ??= await createClusterCa();
    a = await startApp(await nodeOptions('node-a', { tags: { role: 'seed' } }));
    a.get(ClusterMembership).events$.subscribe((e) => eventsOfA.push(e));
    const seed = a.get(ClusterMembership).address;
    b = await startApp(await nodeOptions('node-b', { seeds: [seed], tags: { role: 'api' } }));

    // node-c through forRootAsync, its settings from another module.
    const cOptions = await nodeOptions('node-c', { seeds: [seed], tags: { role: 'worker' } });
    @Module({ providers: [{ provide: 'NODE_SETTINGS', useValue: cOptions }], exports: ['NODE_SETTINGS'] })
    class SettingsModule {}
    @Module({
      imports: [
        ShoalModule.forRootAsync({
          imports: [SettingsModule],
          inject: ['NODE_SETTINGS'],
          useFactory: async (s: ShoalModuleOptions) => ({ ...s }),
        }),
      ],
      providers: [EventLog],
    })
    class AsyncAppModule {}
    c = await NestFactory.createApplicationContext(AsyncAppModule, { logger: false, abortOnError: false });
  }, 30_000);

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close(), c?.close()]);
  }, 30_000);

  it('joins: every node sees all three alive, and bootstrapped handlers and events$ get joined', async () => {
    for (const app of [a, b, c!]) {
      const m = app.get(ClusterMembership);
      await waitFor(`${m.id} to see 3 alive`, () => m.members({ states: 'alive' }).length === 3);
      expect(m.members().map((x) => x.id)).toEqual(['node-a', 'node-b', 'node-c']);
    }
    const logA = a.get(EventLog);
    await waitFor('joined of b and c at a', () => ['node-b', 'node-c'].every((id) => logA.joined.some((e) => e.member.id === id)));
    expect(eventsOfA.filter((e) => e.type === 'joined').map((e) => e.member.id)).toEqual(expect.arrayContaining(['node-b', 'node-c']));
    // node-c (forRootAsync) found its handler too.
    expect(c!.get(MemberEventExplorer).handlers.map((h) => h.name)).toContain('EventLog.onJoined');
    await waitFor('joined at c', () => c!.get(EventLog).joined.some((e) => e.member.id === 'node-a'));
  });

  it('queries by tag selectors and states', () => {
    const m = a.get(ClusterMembership);
    expect(m.members({ tags: 'role=api' }).map((x) => x.id)).toEqual(['node-b']);
    expect(m.members({ tags: ['role', 'role!=api'], states: ['alive'] }).map((x) => x.id)).toEqual(['node-a', 'node-c']);
    expect(m.members({ tags: { key: 'role', op: 'eq', value: 'worker' } }).map((x) => x.id)).toEqual(['node-c']);
    expect(m.members({ tags: '!role' })).toEqual([]);
    expect(m.self.id).toBe('node-a');
    expect(() => m.members({ tags: '=x' })).toThrow(/tags/);
    expect(() => m.members({ states: 'dead' as never })).toThrow(/states/);
    const registry = a.get(Registry);
    expect(registry.member('node-b')?.tags).toEqual({ role: 'api' });
    expect(registry.countByState()).toEqual({ alive: 3, suspect: 0, failed: 0, left: 0 });
  });

  it('setTags spreads to the other nodes', async () => {
    const cm = c!.get(ClusterMembership);
    const before = cm.self.incarnation;
    const self = cm.setTags({ role: 'worker', zone: 'z1' });
    expect(self.incarnation).toBe(before + 1);
    for (const app of [a, b]) {
      const m = app.get(ClusterMembership);
      await waitFor(`${m.id} to see zone=z1 on node-c`, () => m.members({ tags: 'zone=z1' }).some((x) => x.id === 'node-c'));
    }
    await waitFor('updated event at a', () => eventsOfA.some((e) => e.type === 'updated' && e.member.id === 'node-c' && e.member.tags['zone'] === 'z1'));
    expect(() => cm.setTags({ zone: 5 as unknown as string })).toThrow(/string/);
    expect(() => cm.setTags({ big: 'x'.repeat(10_000) })).toThrow(RangeError);
  });

  it('reports ready through the health indicator, and the other providers answer', async () => {
    const health = a.get(ShoalHealthIndicator);
    expect(health.isReady()).toMatchObject({ shoal: { status: 'up', joined: true, running: true, shuttingDown: false } });
    expect(health.isLive('gossip')).toMatchObject({ gossip: { status: 'up' } });
    expect(a.get(HealthChecker).healthScore()).toBeLessThan(a.get(HealthChecker).threshold);
    // A probe round has to happen for phi and the RTT histogram to have data.
    await waitFor('a probe', () => a.get(Gossip).stats().sent.ping > 0, 5000);
    const phis = a.get(HealthChecker).phis();
    expect(Object.keys(phis).sort()).toEqual(['node-b', 'node-c']);
    expect(a.get(ConnectionPool).stats().open).toBeGreaterThanOrEqual(1);
    const g = a.get(Gossip).stats();
    expect(g.bytesIn).toBeGreaterThan(0);
    expect(g.bytesOut).toBeGreaterThan(0);
    expect(g.malformed).toBe(0);
  });

  it('exposes prom-client metrics in a registry of its own', async () => {
    const metrics = a.get(ShoalMetrics);
    // Successful probes put their round-trip time into the histogram (one probe per second).
    let text = '';
    const deadline = Date.now() + 5000;
    for (;;) {
      text = await metrics.metrics();
      if (Number(/shoal_probe_rtt_seconds_count (\d+)/.exec(text)?.[1]) > 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(a.get<NodeRuntime>(SHOAL_RUNTIME).id).toBe('node-a');
    for (const name of [
      'shoal_members{state="alive"} 3',
      'shoal_probes_total',
      'shoal_probe_failures_total',
      'shoal_probe_rtt_seconds_bucket',
      'shoal_suspicions_total 0',
      'shoal_refutations_total 0',
      'shoal_local_health_score 0',
      'shoal_pool_connections{state="open"}',
      'shoal_pool_connections{state="idle"}',
      'shoal_bytes_received_total',
      'shoal_bytes_sent_total',
      'shoal_malformed_messages_total 0',
      'shoal_ready 1',
      'shoal_datagram_peers ',
      '# TYPE shoal_datagrams_unconnected_total counter',
    ])
      expect(text).toContain(name);
    const count = /shoal_probe_rtt_seconds_count (\d+)/.exec(text);
    expect(Number(count?.[1])).toBeGreaterThan(0);
    // Two nodes in one process: separate registries, no "already registered" clash.
    const textB = await b.get(ShoalMetrics).metrics();
    expect(textB).toContain('shoal_members{state="alive"} 3');
  });

  it('closing a node makes the others record left, never failed; readiness drops first', async () => {
    const app = c!;
    const health = app.get(ShoalHealthIndicator);
    const lifecycle = app.get(ShoalLifecycle);
    const t0 = Date.now();
    const closing = app.close();
    // Readiness goes false while the node is still up and leaving.
    await waitFor('c shutting down', () => lifecycle.shuttingDown, 2000);
    const r = health.readiness();
    expect(r.ready).toBe(false);
    expect(r.running).toBe(true);
    expect(health.isReady()).toMatchObject({ shoal: { status: 'down' } });
    await closing;
    const closeMs = Date.now() - t0;
    c = undefined;
    expect(health.isLive()).toMatchObject({ shoal: { status: 'down' } });
    // Bound: leaveTimeoutMs (local: 2 s) + grace + close.
    expect(closeMs).toBeLessThan(2000 + 500 + 5000);

    for (const other of [a, b]) {
      const log = other.get(EventLog);
      const m = other.get(ClusterMembership);
      await waitFor(`${m.id} to record node-c left`, () => log.gone.some((e) => e.member.id === 'node-c' && e.type === 'left'), 5000);
      expect(m.member('node-c')?.state).toBe('left');
    }
    // Give a failure detector time to (wrongly) fire: probe interval + suspicion.
    await new Promise((r) => setTimeout(r, 1500));
    for (const other of [a, b]) {
      const log = other.get(EventLog);
      expect(log.all.filter((e) => e.member.id === 'node-c' && (e.type === 'failed' || e.type === 'suspect'))).toEqual([]);
      expect(other.get(ClusterMembership).member('node-c')?.state).toBe('left');
    }
    expect(eventsOfA.some((e) => e.member.id === 'node-c' && e.type === 'left')).toBe(true);
    console.log(`node-c close (leave + stop) took ${closeMs} ms`);
  }, 20_000);

  it('a throwing handler does not stop delivery to others', () => {
    // EventLog.onUpdatedThrows threw on the tag update above: logged, and the other handlers kept going.
    expect(logLines.some((l) => l.msg === 'member event handler failed' && l.handler === 'EventLog.onUpdatedThrows')).toBe(true);
    expect(a.get(EventLog).all.some((e) => e.type === 'updated')).toBe(true);
    expect(a.get(EventLog).gone.length).toBeGreaterThan(0);
  });
});

describe('ShoalModule: shutdown details', () => {
  beforeAll(async () => {
    ca ??= await createClusterCa();
  });

  it('a signal-started shutdown arms the second-signal exit and disarms it when done', async () => {
    const app = await startApp(await nodeOptions('solo'));
    const health = app.get(ShoalHealthIndicator);
    await waitFor('solo ready', () => health.readiness().ready, 5000);
    const before = process.listenerCount('SIGUSR2');
    const added: string[] = [];
    const removed: string[] = [];
    const onNew = (ev: string | symbol): void => void added.push(String(ev));
    const onRemove = (ev: string | symbol): void => void removed.push(String(ev));
    process.on('newListener', onNew);
    process.on('removeListener', onRemove);
    try {
      // What enableShutdownHooks() does on a signal: close(signal).
      await (app as unknown as { close(signal?: string): Promise<void> }).close('SIGUSR2');
    } finally {
      process.off('newListener', onNew);
      process.off('removeListener', onRemove);
    }
    expect(added).toContain('SIGUSR2');
    expect(removed).toContain('SIGUSR2');
    expect(process.listenerCount('SIGUSR2')).toBe(before);
    expect(health.isLive()).toMatchObject({ shoal: { status: 'down', running: false } });
  });

  it('isGlobal: true makes the providers injectable in modules that do not import ShoalModule', async () => {
    @Injectable()
    class Consumer {
      constructor(readonly membership: ClusterMembership) {}
    }
    @Module({ providers: [Consumer], exports: [Consumer] })
    class FeatureModule {}
    @Module({ imports: [ShoalModule.forRoot({ ...(await nodeOptions('global-node')), isGlobal: true }), FeatureModule] })
    class GlobalAppModule {}
    const app = await NestFactory.createApplicationContext(GlobalAppModule, { logger: false, abortOnError: false });
    try {
      expect(app.get(Consumer).membership.self.id).toBe('global-node');
    } finally {
      await app.close();
    }
  });

  it('leaveOnShutdown: false skips the leave (the member is then only found failed)', async () => {
    const app = await startApp(await nodeOptions('no-leave', { leaveOnShutdown: false }));
    const runtime = app.get<NodeRuntime>(SHOAL_RUNTIME);
    const incarnation = runtime.self().incarnation;
    let leftSeen = false;
    app.get(ClusterMembership).events$.subscribe((e) => {
      if (e.type === 'left' && e.member.id === 'no-leave') leftSeen = true;
    });
    await app.close();
    expect(leftSeen).toBe(false);
    expect(runtime.self().incarnation).toBe(incarnation);
    expect(runtime.running).toBe(false);
  });
});
