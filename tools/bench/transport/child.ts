/**
 * One benchmark child process, driven by the parent (bench-transport.ts) over the IPC
 * channel. Roles:
 *  - cluster:  runs one or more NodeRuntimes (one per process unless the parent packs several),
 *              or the plain-UDP reference nodes (udp-core-node.ts);
 *  - endpoint: one bare QuicEndpoint that echoes frames; can time fresh dials to another
 *              endpoint (handshake + hello) or hold many open connections (RSS per connection);
 *  - idle:     loads the same modules and starts nothing (the floor of a Node process).
 * Every role answers `sample` with its CPU time, RSS and UDP byte counters.
 *
 * The child exits when the parent goes away (IPC disconnect) and after a hard lifetime
 * cap, so no benchmark process can outlive its parent for long.
 */
import { installUdpMeter, udpCounters } from '../lib/udp-meter.js';
installUdpMeter(); // before any QUIC socket exists

import { readdirSync, readFileSync } from 'node:fs';
import { procStatus } from '../lib/procfs.js';
import v8 from 'node:v8';
import { pino } from 'pino';
import { NodeRuntime, QuicEndpoint, preciseClock, type NodeRuntimeOptions, type PeerConnection } from '@shoal/transport-quic';
import type { PresetName, ShoalConfig } from '@shoal/core';
import type { ChildSample, NodeSample, ParentMessage, TlsMaterial } from './protocol.js';
import { UdpCoreNode } from './udp-core-node.js';

const LIFETIME_CAP_MS = Number(process.env['SHOAL_BENCH_CHILD_MAX_MS'] ?? 30 * 60_000);
const lifetime = setTimeout(() => {
  process.stderr.write(`bench child ${process.pid}: lifetime cap reached, exiting\n`);
  process.exit(3);
}, LIFETIME_CAP_MS);
lifetime.unref();
let stopped = false;
process.on('disconnect', () => process.exit(stopped ? 0 : 2));

const logger = pino({ level: 'warn', base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
const gc = (globalThis as { gc?: () => void }).gc;

const runtimes: NodeRuntime[] = [];
const udpNodes: UdpCoreNode[] = [];
let endpoint: QuicEndpoint | undefined;
const held: PeerConnection[] = [];
/** Keeps a connection until it closes (so closed ones do not pile up in this process). */
function track(c: PeerConnection): void {
  held.push(c);
  c.onClose(() => {
    const i = held.indexOf(c);
    if (i >= 0) held.splice(i, 1);
  });
}

function send(msg: unknown): void {
  if (process.connected) process.send!(msg);
}

/** The pool and endpoint figures of a node (zero for the UDP reference, which has neither). */
function transportFigures(rt: NodeRuntime | UdpCoreNode) {
  if (rt instanceof UdpCoreNode) {
    return {
      messagesOut: rt.messagesOut,
      messagesIn: rt.messagesIn,
      frameBytesOut: rt.bytesOut,
      sendFailures: 0,
      poolOpen: 0,
      poolDials: 0,
      poolDialFailures: 0,
      poolEvictions: 0,
      poolIdleClosed: 0,
      poolExhausted: 0,
      poolInboundRefused: 0,
      endpointInbound: 0,
      endpointOutbound: 0,
      endpointInboundTotal: 0,
      endpointOutboundTotal: 0,
    };
  }
  const s = rt.stats();
  return {
    messagesOut: s.runtime.messagesOut,
    messagesIn: s.runtime.messagesIn,
    frameBytesOut: s.runtime.bytesOut,
    sendFailures: s.runtime.sendFailures,
    poolOpen: s.pool.open,
    poolDials: s.pool.dials,
    poolDialFailures: s.pool.dialFailures,
    poolEvictions: s.pool.evictions,
    poolIdleClosed: s.pool.idleClosed,
    poolExhausted: s.pool.exhausted,
    poolInboundRefused: s.pool.inboundRefused,
    endpointInbound: s.endpoint.inbound,
    endpointOutbound: s.endpoint.outbound,
    endpointInboundTotal: s.endpoint.inboundTotal,
    endpointOutboundTotal: s.endpoint.outboundTotal,
  };
}

/** The member being watched (a crash victim of the detection trials) and, per node, when it first saw it suspect / failed. */
let watchedId: string | undefined;
const watched = new Map<string, { suspectAt?: number; failedAt?: number }>();

function watch(id: string): void {
  if (udpNodes.length) throw new Error('the UDP reference raises no member events to watch');
  const listening = watchedId !== undefined;
  watchedId = id;
  watched.clear();
  if (listening) return;
  for (const rt of runtimes) {
    rt.on('member', (e) => {
      if (e.member.id !== watchedId) return;
      const w = watched.get(rt.id) ?? {};
      if (e.type === 'suspect') w.suspectAt ??= e.time;
      else if (e.type === 'failed') w.failedAt ??= e.time;
      watched.set(rt.id, w);
    });
  }
}

function nodeSample(rt: NodeRuntime | UdpCoreNode): NodeSample {
  const swim = rt instanceof UdpCoreNode ? rt.stats() : rt.stats().swim;
  const members = rt.members();
  let alive = 0;
  let suspect = 0;
  let failed = 0;
  for (const m of members) {
    if (m.state === 'alive') alive++;
    else if (m.state === 'suspect') suspect++;
    else if (m.state === 'failed') failed++;
  }
  return {
    id: rt.id,
    alive,
    suspect,
    failed,
    probes: swim.probes,
    probeSuccesses: swim.probeSuccesses,
    probeFailures: swim.probeFailures,
    indirectProbes: swim.indirectProbes,
    suspicions: swim.suspicions,
    failuresDeclared: swim.failuresDeclared,
    refutations: swim.refutations,
    pushPulls: swim.pushPulls,
    sent: swim.sent as Record<string, number>,
    rtts: rt.takeRttSamples(),
    ...transportFigures(rt),
    ...(watchedId ? { watched: { id: watchedId, ...watched.get(rt.id) } } : {}),
  };
}

/** VmRSS and its split (kB → bytes) from /proc/self/status: RssFile is mostly the node binary's mapped text, shared between processes. */
function ownStatus(): Record<string, number> {
  try {
    return procStatus(process.pid);
  } catch {
    return {}; // not Linux
  }
}

/** CPU ticks (1/100 s: utime + stime) per thread, the main thread apart, others summed by thread name (Linux). */
function threadTicks(): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const name = Number(tid) === process.pid ? 'main' : stat.slice(stat.indexOf('(') + 1, close).replace(/[0-9]+$/, '').trim();
      const f = stat.slice(close + 2).split(' '); // f[0] is field 3 (state)
      out[name] = (out[name] ?? 0) + Number(f[11]) + Number(f[12]); // fields 14 (utime) and 15 (stime)
    }
  } catch {
    // not Linux, or a thread vanished mid-read
  }
  return out;
}

function sample(opts: { gc?: boolean }): ChildSample {
  if (opts.gc && gc) {
    gc();
    gc();
  }
  const at = Date.now();
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  const heap = v8.getHeapStatistics();
  const out: ChildSample = {
    procStatus: ownStatus(),
    threadTicks: threadTicks(),
    v8PhysicalBytes: heap.total_physical_size,
    v8MallocedBytes: heap.malloced_memory,
    pid: process.pid,
    at,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    external: mem.external,
    udp: udpCounters(),
    nodes: [...runtimes, ...udpNodes].map(nodeSample),
    held: held.filter((c) => !c.closed).length,
    atAfter: 0,
    cpuAfterUs: 0,
  };
  // Taking this sample (the /proc reads above) costs CPU here: windows start after it.
  const after = process.cpuUsage();
  out.atAfter = Date.now();
  out.cpuAfterUs = after.user + after.system;
  return out;
}

async function startCluster(m: Extract<ParentMessage, { type: 'start-nodes' }>): Promise<string[]> {
  const addresses: string[] = [];
  for (const n of m.nodes) {
    if (m.transport === 'udp' || m.transport === 'udp-sealed') {
      const seeds = m.seeds.length ? m.seeds : addresses.slice(0, 1);
      const sealed = m.transport === 'udp-sealed';
      const u = await UdpCoreNode.start({ id: n.id, seeds, preset: m.preset as PresetName, config: m.config as Partial<ShoalConfig>, clock: preciseClock(), sealed });
      udpNodes.push(u);
      addresses.push(u.address);
      continue;
    }
    const opts: NodeRuntimeOptions = {
      id: n.id,
      cluster: m.cluster,
      bindHost: '127.0.0.1',
      bindPort: 0,
      // Without seeds, the first node of the batch founds the cluster and the others join it.
      seeds: m.seeds.length ? m.seeds : addresses.slice(0, 1),
      preset: m.preset as PresetName,
      config: m.config as Partial<ShoalConfig>,
      tls: n.tls,
      pool: m.pool,
      endpoint: m.endpoint,
      logger,
      clock: preciseClock(),
    };
    const rt = await NodeRuntime.start(opts);
    rt.on('error', (e) => logger.warn({ err: e.message, node: rt.id }, 'runtime error'));
    runtimes.push(rt);
    addresses.push(rt.address);
  }
  return addresses;
}

async function startEndpoint(id: string, cluster: string, tls: TlsMaterial, ep: Record<string, number | boolean> | undefined): Promise<string> {
  endpoint = await QuicEndpoint.start({ ...ep, nodeId: id, cluster, bindHost: '127.0.0.1', bindPort: 0, tls, logger });
  endpoint.on('connection', (c: PeerConnection) => {
    track(c);
    c.on('message', (payload: Uint8Array) => c.send(payload));
  });
  return endpoint.address;
}

/** One frame there and back on a connection, bounded. */
function echo(c: PeerConnection, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('echo timed out')), timeoutMs);
    const onMsg = (): void => {
      clearTimeout(t);
      c.off('message', onMsg);
      resolve();
    };
    c.on('message', onMsg);
    c.send(new Uint8Array(64));
  });
}

/** n fresh dials one after another: time to an admitted connection, CPU and UDP bytes per dial. */
async function dialBench(target: string, n: number) {
  const ms: number[] = [];
  const cpuUs: number[] = [];
  const udpBytes: number[] = [];
  const udpDatagrams: number[] = [];
  for (let i = 0; i < n; i++) {
    const u0 = udpCounters();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const c = await endpoint!.dial(target, { timeoutMs: 5000 });
    ms.push(performance.now() - t0);
    const c1 = process.cpuUsage(c0);
    const u1 = udpCounters();
    cpuUs.push(c1.user + c1.system);
    udpBytes.push(u1.txBytes - u0.txBytes + (u1.rxBytes - u0.rxBytes));
    udpDatagrams.push(u1.txDatagrams - u0.txDatagrams + (u1.rxDatagrams - u0.rxDatagrams));
    await c.close();
  }
  return { ms, cpuUs, udpBytes, udpDatagrams };
}

/** Opens n connections to target, one echo on each (so each has carried stream traffic), and keeps them. */
async function hold(target: string, n: number): Promise<number> {
  for (let i = 0; i < n; i++) {
    const c = await endpoint!.dial(target, { timeoutMs: 5000 });
    c.on('message', () => {});
    track(c);
    await echo(c, 5000);
  }
  return held.filter((c) => !c.closed).length;
}

/**
 * Round trips on one long-lived connection (the transport alone, no protocol core), after
 * 50 unmeasured ones; back to back, or one every intervalMs. Returns the times and this
 * process's CPU time over the measured ones.
 */
async function rttBench(target: string, n: number, intervalMs: number): Promise<{ ms: number[]; cpuUs: number; wallMs: number }> {
  const c = await endpoint!.dial(target, { timeoutMs: 5000 });
  const out: number[] = [];
  for (let i = 0; i < 50; i++) await echo(c, 5000);
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  for (let i = 0; i < n; i++) {
    if (intervalMs > 0) await new Promise((r) => setTimeout(r, intervalMs));
    const t0 = performance.now();
    await echo(c, 5000);
    out.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(c0);
  const wallMs = performance.now() - w0;
  await c.close();
  return { ms: out, cpuUs: cpu.user + cpu.system, wallMs };
}

async function stopAll(): Promise<void> {
  await Promise.allSettled([...runtimes, ...udpNodes].map((r) => r.stop()));
  await Promise.allSettled(held.map((c) => c.close()));
  if (endpoint) await endpoint.stop();
}

process.on('message', (raw: unknown) => {
  const m = raw as ParentMessage;
  const reply = (body: Record<string, unknown>): void => send({ ...body, re: m.type, seq: m.seq });
  const fail = (e: unknown): void => reply({ type: 'error', error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
  try {
    switch (m.type) {
      case 'start-nodes':
        startCluster(m).then((addresses) => reply({ type: 'ok', addresses }), fail);
        break;
      case 'start-endpoint':
        startEndpoint(m.id, m.cluster, m.tls, m.endpoint).then((address) => reply({ type: 'ok', address }), fail);
        break;
      case 'sample':
        reply({ type: 'ok', sample: sample({ gc: m.gc }) });
        break;
      case 'dial-bench':
        dialBench(m.target, m.n).then((r) => reply({ type: 'ok', ...r }), fail);
        break;
      case 'hold':
        hold(m.target, m.n).then((open) => reply({ type: 'ok', open }), fail);
        break;
      case 'rtt-bench':
        rttBench(m.target, m.n, m.intervalMs ?? 0).then((r) => reply({ type: 'ok', ...r }), fail);
        break;
      case 'release':
        Promise.allSettled(held.splice(0).map((c) => c.close())).then(() => reply({ type: 'ok' }), fail);
        break;
      case 'watch':
        watch(m.id);
        reply({ type: 'ok' });
        break;
      case 'wake':
        // Nothing but a timer: the CPU a Node process pays just to wake up this often.
        setInterval(() => undefined, m.everyMs);
        reply({ type: 'ok' });
        break;
      case 'stop':
        stopAll().then(
          () => {
            stopped = true;
            reply({ type: 'ok' });
            process.disconnect();
          },
          (e) => {
            fail(e);
            process.exit(1);
          },
        );
        break;
      default:
        fail(new Error(`unknown message ${JSON.stringify(m)}`));
    }
  } catch (e) {
    fail(e);
  }
});

send({ type: 'ready', pid: process.pid });
