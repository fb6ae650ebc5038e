/**
 * Transport benchmark (issue 3, item 7 and Targets): real nodes over QUIC on 127.0.0.1,
 * one child process per node (so CPU and RSS are per node).
 *
 *  micro   two bare endpoints in two processes: RSS per open connection (each side), the
 *          cost of an open unused connection with keep-alive on, handshake + hello time /
 *          CPU / bytes of fresh dials, and a 64-byte echo on one long-lived connection,
 *          back to back and one every 500 ms (the transport alone). Then connection churn:
 *          RSS before/after 300 short-lived connections, without and with
 *          --max-semi-space-size=1.
 *  steady  a 20-node cluster (lan preset) per transport setting: after convergence and a
 *          settle period, a window of ≥ 60 s: per node CPU % of one core
 *          (process.cpuUsage deltas between samples at the window's ends only), RSS, UDP payload bytes/s (counted at node:dgram,
 *          see lib/udp-meter.ts; verify-wire.ts checks it against the kernel), probe round
 *          trip p50/p99 from the core's rtts samples, CPU ms per probe round, and the
 *          window's health (suspicions, failures, dials). The setting `udp-reference` runs the
 *          same core over plain UDP instead (udp-core-node.ts): the floor, not a product;
 *          `memberlist` and `memberlist-encrypted` run HashiCorp's Go library in the same layout
 *          (../memberlist/main.go; needs `apt-get install golang-go
 *          golang-github-hashicorp-memberlist-dev`, built on first use). After each window
 *          (but the UDP references'), --crashes nodes are killed with SIGKILL one at a time:
 *          first suspicion and each node's failure verdict, from the kill.
 *  big     a 100-node cluster with pool maxTotal = 16 at the preset's own timings
 *          (--big-time-scale slows them down): some nodes alone in a process (their RSS is
 *          compared with the 20-node figure), the rest packed several per process.
 *
 * Prints tables, writes tools/bench/results/transport-<date>.json and rewrites the section
 * "## Transport (issue 3)" of docs/BENCHMARKS.md. Progress goes to stderr. Every child is
 * killed on exit, on SIGINT/SIGTERM and on failure (the time budget, --budget-min, is
 * checked between steps); children also exit when their parent goes away.
 *
 * Run: npx nx run transport-quic:bench                                   (about 25 min)
 *      npx nx run transport-quic:bench --args="--quick"                  (smoke run, ~1.5 min, no docs)
 *      npx nx run transport-quic:bench --args="--phases=steady --configs=defaults+udp-reference --window=60 --no-docs"
 *                                                      (lists: commas or +; through Nx only +, it splits commas)
 *      --config="name:pool.idleTimeoutMs=60000,endpoint.keepAliveIntervalMs=0,flag=--max-semi-space-size=1"
 *                                                      (an extra setting to compare, repeatable)
 *      --profile=n005                                  (that node's process runs under --cpu-prof)
 */
import { readFileSync } from 'node:fs';
import { procStatus } from '../lib/procfs.js';
import os from 'node:os';
import path from 'node:path';
import { createClusterCa, issueNodeCertificate, POOL_DEFAULTS, DEFAULT_KEEP_ALIVE_INTERVAL_MS, DEFAULT_MAX_IDLE_TIMEOUT_MS, DEFAULT_MAX_IDLE_TIMEOUT_MS_WITH_DATAGRAMS, DEFAULT_MAX_DATAGRAM_PAYLOAD_BYTES, type CertificatePair } from '@shoal/transport-quic';
import { PRESETS, type PresetName } from '@shoal/core';
import { BenchOptions } from '../lib/args.js';
import { findRoot, writeDocsSection } from '../lib/docs.js';
import { loadTransportRuns, RTT_QUANTILES, transportCharts, transportHistoryChart, writeCharts } from '../lib/charts.js';
import { checkBudget, machineInfo, readNodeRun, runMain, startBudget, writeResults, type Machine } from '../lib/run.js';
import { fmt, max, mean, median, medianMax, MiB, percentile, round, table, verdict, type MedianMax, type Verdict } from '../lib/stats.js';
import { BenchChild, installCleanup, killAll, stopAll } from './children.js';
import { memberlistProgram, memberlistVersion } from './memberlist-child.js';
import type { ChildSample, NodeSample, TlsMaterial } from './protocol.js';

// ─── settings under test ───────────────────────────────────────────────────────────────

/** QuicEndpoint options of a setting (numbers, and `datagrams`). */
type EndpointSetting = Record<string, number | boolean>;

interface TransportSetting {
  name: string;
  description: string;
  pool: Record<string, number>;
  endpoint: EndpointSetting;
  /** Extra Node flags of every node process (e.g. V8 heap sizing). */
  nodeFlags: string[];
  /** Extra environment of every node process (e.g. MALLOC_ARENA_MAX). */
  env?: Record<string, string>;
  /**
   * References to compare with, not products: 'udp' / 'udp-sealed', the plain-UDP nodes
   * (udp-core-node.ts), a floor; 'memberlist', HashiCorp's Go library (../memberlist/main.go).
   */
  transport?: 'quic' | 'udp' | 'udp-sealed' | 'memberlist';
  /** Passed to every node as its `config` (the memberlist child reads `encrypt`). */
  nodeConfig?: Record<string, unknown>;
}

/** A reference (plain UDP, memberlist): measured beside our transport, never judged by the targets. */
const isReference = (s: TransportSetting): boolean => s.transport !== undefined && s.transport !== 'quic';

/**
 * Wake-ups per second of a membership node's main thread in the 20-node lan cluster, from
 * strace (2026-11-27): about 2.5 for datagrams (ping in, ack in, the peer's ACK of our ack)
 * and 2.8 for timers (our probe, our probe timeout, js-quic's and the pool's cleared timers,
 * which Node still wakes for). The wake-floor process wakes this often and does nothing else.
 */
const WAKE_FLOOR_HZ = 5;

/** How apps/node runs a node process (its flags and environment). */
const NODE_RUN = readNodeRun(findRoot());

const SETTINGS: Record<string, TransportSetting> = {
  defaults: {
    name: 'defaults',
    description: `library defaults (plain node): pool idleTimeoutMs ${POOL_DEFAULTS.idleTimeoutMs}, endpoint datagrams on, maxIdleTimeoutMs ${DEFAULT_MAX_IDLE_TIMEOUT_MS_WITH_DATAGRAMS} (0: QUIC never idles out; the pool retires quiet connections), keepAliveIntervalMs ${DEFAULT_KEEP_ALIVE_INTERVAL_MS}`,
    pool: {},
    endpoint: {},
    nodeFlags: [],
  },
  tuned: {
    name: 'tuned',
    description: 'QUIC keep-alive off (endpoint keepAliveIntervalMs 0) and endpoint maxIdleTimeoutMs 60000 (twice the pool idleTimeoutMs, which stays at its default)',
    pool: {},
    endpoint: { keepAliveIntervalMs: 0, maxIdleTimeoutMs: 60_000 },
    nodeFlags: [],
  },
  'tuned-semi1': {
    name: 'tuned-semi1',
    description: 'tuned, and every node process started with node --max-semi-space-size=1 (V8 young generation capped at 1 MiB per semi-space)',
    pool: {},
    endpoint: { keepAliveIntervalMs: 0, maxIdleTimeoutMs: 60_000 },
    nodeFlags: ['--max-semi-space-size=1'],
  },
  lean: {
    name: 'lean',
    description: `library defaults, every node process run as apps/node runs it (apps/node/node-flags.json): node ${NODE_RUN.nodeFlags.join(' ')}, ${Object.entries(NODE_RUN.env).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    pool: {},
    endpoint: {},
    nodeFlags: NODE_RUN.nodeFlags,
    env: NODE_RUN.env,
  },
  'lean-streams': {
    name: 'lean-streams',
    description:
      'lean, with every message on the QUIC stream (endpoint datagrams false, maxIdleTimeoutMs 60000): the transport as it was before sealed datagrams',
    pool: {},
    endpoint: { datagrams: false, maxIdleTimeoutMs: 60_000 },
    nodeFlags: NODE_RUN.nodeFlags,
    env: NODE_RUN.env,
  },
  'udp-reference': {
    name: 'udp-reference',
    description:
      'NOT a transport of ours — a reference: the same protocol core, lan preset and codec over plain UDP datagrams (node:dgram; no QUIC, TLS, streams or pool), one timer armed as NodeRuntime arms it, process run as lean. What the core and a Node process cost here with the cheapest possible transport',
    pool: {},
    endpoint: {},
    nodeFlags: NODE_RUN.nodeFlags,
    env: NODE_RUN.env,
    transport: 'udp',
  },
  'udp-sealed': {
    name: 'udp-sealed',
    description:
      'a reference like udp-reference, every datagram sealed with ChaCha20-Poly1305 (node:crypto) under a fixed key: the per-datagram cost of authenticated datagrams (no key exchange, no replay window)',
    pool: {},
    endpoint: {},
    nodeFlags: NODE_RUN.nodeFlags,
    env: NODE_RUN.env,
    transport: 'udp-sealed',
  },
  memberlist: {
    name: 'memberlist',
    description:
      "NOT ours — the Go reference: HashiCorp memberlist (Debian's package, built with Debian's Go) with DefaultLANConfig (probe 1 s, timeout 500 ms, gossip 200 ms to 3, push-pull 30 s over TCP, compression on, no encryption), one node per process, driven by tools/bench/memberlist/main.go. CPU from getrusage, UDP bytes from memberlist's own counters, TCP bytes counted on its connections, rtt from its PingDelegate",
    pool: {},
    endpoint: {},
    nodeFlags: NODE_RUN.nodeFlags, // of the idle and wake-floor Node processes beside it
    env: NODE_RUN.env,
    transport: 'memberlist',
  },
  'memberlist-encrypted': {
    name: 'memberlist-encrypted',
    description: 'memberlist as above with a 32-byte SecretKey: every message AES-256-GCM encrypted and authenticated (memberlist\'s own option), the nearest to our authenticated datagrams',
    pool: {},
    endpoint: {},
    nodeFlags: NODE_RUN.nodeFlags,
    env: NODE_RUN.env,
    transport: 'memberlist',
    nodeConfig: { encrypt: true },
  },
};

// ─── arguments ─────────────────────────────────────────────────────────────────────────

type Phase = 'micro' | 'steady' | 'big';

interface Args {
  phases: Set<Phase>;
  configs: string[];
  nodes: number;
  windowS: number;
  settleS: number;
  settleMaxS: number;
  bigNodes: number;
  bigMaxTotal: number;
  bigSolo: number;
  bigPerProcess: number;
  bigConfig: string;
  bigWindowS: number;
  bigSettleS: number;
  /** The big run's periodic timings (probe, probe timeout, gossip, push-pull, reconnect) are the preset's × this. */
  bigTimeScale: number;
  preset: string;
  docs: boolean;
  /** Only rewrite the docs section (and print the tables) from a results file. */
  docsFrom: string | undefined;
  quick: boolean;
  budgetMin: number;
  sampleEveryS: number;
  /** Node ids whose process runs with --cpu-prof (profiles in tmp/bench-transport-prof). */
  profile: string[];
  /** Crash trials after each steady window (settings whose nodes raise member events: ours and memberlist). */
  crashes: number;
}

function usage(msg: string): never {
  process.stderr.write(`bench-transport: ${msg}\n`);
  process.exit(2);
}

function parseSetting(spec: string): TransportSetting {
  const colon = spec.indexOf(':');
  if (colon <= 0) usage(`--config wants "name:pool.key=v,endpoint.key=v", got ${JSON.stringify(spec)}`);
  const name = spec.slice(0, colon);
  const s: TransportSetting = { name, description: spec.slice(colon + 1), pool: {}, endpoint: {}, nodeFlags: [] };
  for (const kv of spec.slice(colon + 1).split(',').filter(Boolean)) {
    if (kv.startsWith('flag=')) {
      if (!/^--[a-z0-9-]+(=[A-Za-z0-9._-]+)?$/.test(kv.slice(5))) usage(`bad node flag ${JSON.stringify(kv.slice(5))}`);
      s.nodeFlags.push(kv.slice(5));
      continue;
    }
    const m = /^(pool|endpoint)\.([A-Za-z]+)=(-?[0-9]+)$/.exec(kv.trim());
    if (!m) usage(`bad --config entry ${JSON.stringify(kv)} (want pool.key=int, endpoint.key=int or flag=--node-flag)`);
    s[m[1] as 'pool' | 'endpoint'][m[2]!] = Number(m[3]);
  }
  return s;
}

function parseArgs(argv: readonly string[]): Args {
  const o = new BenchOptions('bench-transport', argv, {
    quick: 'boolean',
    'docs-from': 'string',
    'no-docs': 'boolean',
    phases: 'string',
    configs: 'string',
    config: 'strings',
    nodes: 'string',
    window: 'string',
    settle: 'string',
    'settle-max': 'string',
    'big-nodes': 'string',
    'big-max-total': 'string',
    'big-solo': 'string',
    'big-per-process': 'string',
    'big-config': 'string',
    'big-settle': 'string',
    'big-time-scale': 'string',
    'big-window': 'string',
    preset: 'string',
    profile: 'string',
    'budget-min': 'string',
    crashes: 'string',
  });
  const quick = o.flag('quick');
  // --quick shrinks every size not given explicitly.
  const sized = (name: string, lo: number, hi: number, full: number, small: number) => o.int(name, lo, hi, quick ? small : full);
  const configs = o.list('configs', quick ? ['lean'] : ['defaults', 'lean', 'lean-streams', 'udp-reference', 'memberlist', 'memberlist-encrypted']);
  for (const extra of o.all('config')) {
    const s = parseSetting(extra);
    SETTINGS[s.name] = s;
    if (!configs.includes(s.name)) configs.push(s.name);
  }
  const a: Args = {
    phases: new Set(o.list('phases', ['micro', 'steady', 'big'], ['micro', 'steady', 'big']) as Phase[]),
    configs,
    nodes: sized('nodes', 2, 64, 20, 6),
    windowS: sized('window', 5, 3600, 60, 10),
    settleS: sized('settle', 0, 600, 20, 3),
    settleMaxS: sized('settle-max', 0, 600, 90, 20),
    bigNodes: sized('big-nodes', 2, 200, 100, 12),
    bigMaxTotal: sized('big-max-total', 1, 1000, 16, 4),
    bigSolo: sized('big-solo', 1, 200, 4, 2),
    bigPerProcess: sized('big-per-process', 1, 200, 12, 5),
    bigConfig: o.str('big-config', 'lean'),
    bigWindowS: sized('big-window', 5, 3600, 60, 10),
    bigSettleS: sized('big-settle', 0, 600, 30, 3),
    bigTimeScale: o.int('big-time-scale', 1, 20, 1),
    preset: o.choice('preset', ['lan', 'wan', 'local'], 'lan'),
    docs: !o.flag('no-docs') && !quick,
    docsFrom: o.str('docs-from'),
    quick,
    budgetMin: o.int('budget-min', 1, 240, 45),
    sampleEveryS: 5,
    profile: o.list('profile', []),
    crashes: sized('crashes', 0, 10, 3, 1),
  };
  for (const c of [...a.configs, a.bigConfig]) if (!SETTINGS[c]) usage(`unknown config ${c} (known: ${Object.keys(SETTINGS).join(', ')})`);
  if (isReference(SETTINGS[a.bigConfig]!)) usage('--big-config must be a QUIC setting (the references have no pool)');
  if (a.bigSolo > a.bigNodes) usage('--big-solo must be ≤ --big-nodes');
  return a;
}

// ─── helpers ───────────────────────────────────────────────────────────────────────────

const progress = (msg: string): void => {
  process.stderr.write(`[bench-transport ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class CertStore {
  private ca: Promise<CertificatePair> | undefined;
  private readonly cache = new Map<string, Promise<TlsMaterial>>();
  get(id: string): Promise<TlsMaterial> {
    const ca = (this.ca ??= createClusterCa());
    let t = this.cache.get(id);
    if (!t) {
      t = ca.then(async (c) => {
        const leaf = await issueNodeCertificate(c, { nodeId: id });
        return { caPem: c.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem };
      });
      this.cache.set(id, t);
    }
    return t;
  }
}

const MAX_CHILD_LIFETIME_MS = 20 * 60_000;

async function spawn(labels: readonly string[], gc = false, nodeFlags: (label: string) => readonly string[] = () => [], env?: Record<string, string>, program?: string): Promise<BenchChild[]> {
  const kids = labels.map((l) => new BenchChild(l, { gc, maxLifetimeMs: MAX_CHILD_LIFETIME_MS, nodeFlags: nodeFlags(l), env, program }));
  await Promise.all(kids.map((k) => k.ready()));
  return kids;
}

async function sampleAll(kids: readonly BenchChild[], gc = false): Promise<ChildSample[]> {
  return Promise.all(kids.map((k) => k.sample(gc)));
}

/** A child's VmRSS read from here (/proc), without waking it; 0 if unreadable. */
function rssOf(pid: number): number {
  try {
    return procStatus(pid)['VmRSS'] ?? 0;
  } catch {
    return 0;
  }
}

// ─── micro: handshake, RSS per connection, transport round trip ────────────────────────

interface MicroResult {
  rssPerConnection: { connections: number; dialerKiB: number; acceptorKiB: number };
  idleConnection: { connections: number; seconds: number; keepAliveIntervalMs: number; cpuMsPerSBothSides: number; wireBpsBothSides: number };
  handshake: { n: number; p50Ms: number; p99Ms: number; maxMs: number; dialerCpuMsP50: number; acceptorCpuMsPerDial: number; udpBytesP50: number; datagramsP50: number };
  transportRoundTrip: RoundTrips;
  sparseRoundTrip: RoundTrips;
}

interface RoundTrips {
  n: number;
  intervalMs: number;
  p50Ms: number;
  p99Ms: number;
  dialerCpuMsPerRoundTrip: number;
  acceptorCpuMsPerRoundTrip: number;
}

async function runMicro(certs: CertStore, args: Args): Promise<MicroResult> {
  const nConn = args.quick ? 16 : 64;
  const nDial = args.quick ? 10 : 40;
  const nRtt = args.quick ? 200 : 1000;
  progress(`micro: two endpoint processes; ${nConn} held connections, ${nDial} fresh dials, ${nRtt} round trips`);
  const [a, b] = await spawn(['dialer', 'acceptor'], true);
  try {
    await a!.request({ type: 'start-endpoint', id: 'dialer', cluster: 'bench', tls: await certs.get('dialer') }, 20_000);
    const r = await b!.request({ type: 'start-endpoint', id: 'acceptor', cluster: 'bench', tls: await certs.get('acceptor') }, 20_000);
    const target = r['address'] as string;
    // Warm the code paths with one connection (kept), then measure RSS growth over nConn more.
    await a!.request({ type: 'hold', target, n: 1 }, 20_000);
    await sleep(500);
    const [a0, b0] = await sampleAll([a!, b!], true);
    await a!.request({ type: 'hold', target, n: nConn }, 120_000);
    await sleep(1000);
    const [a1, b1] = await sampleAll([a!, b!], true);
    const rssPerConnection = {
      connections: nConn,
      dialerKiB: round((a1!.rss - a0!.rss) / nConn / 1024, 0),
      acceptorKiB: round((b1!.rss - b0!.rss) / nConn / 1024, 0),
    };
    progress(`micro: RSS per connection: dialer ${rssPerConnection.dialerKiB} KiB, acceptor ${rssPerConnection.acceptorKiB} KiB`);
    // What the open but unused connections cost with the endpoint defaults (QUIC keep-alive on).
    const idleS = args.quick ? 4 : 10;
    const [a2, b2] = await sampleAll([a!, b!]);
    await sleep(idleS * 1000);
    const [a3, b3] = await sampleAll([a!, b!]);
    const per = (x: ChildSample, y: ChildSample) => ({
      cpuMsPerS: (y.cpuUserUs + y.cpuSystemUs - x.cpuUserUs - x.cpuSystemUs) / 1000 / ((y.at - x.at) / 1000) / (nConn + 1),
      txBps: (y.udp.txBytes - x.udp.txBytes) / ((y.at - x.at) / 1000) / (nConn + 1),
    });
    const da = per(a2!, a3!);
    const db = per(b2!, b3!);
    const idleConnection = {
      connections: nConn + 1,
      seconds: idleS,
      keepAliveIntervalMs: DEFAULT_KEEP_ALIVE_INTERVAL_MS,
      cpuMsPerSBothSides: round(da.cpuMsPerS + db.cpuMsPerS),
      wireBpsBothSides: round(da.txBps + db.txBps, 1),
    };
    progress(`micro: an idle connection (keep-alive ${DEFAULT_KEEP_ALIVE_INTERVAL_MS} ms) costs ${idleConnection.cpuMsPerSBothSides} ms/s CPU and ${idleConnection.wireBpsBothSides} B/s (both ends)`);
    await a!.request({ type: 'release' }, 30_000);
    await sleep(1000);

    const bCpu0 = await b!.sample();
    const d = await a!.request({ type: 'dial-bench', target, n: nDial }, 120_000);
    const bCpu1 = await b!.sample();
    const ms = d['ms'] as number[];
    const handshake = {
      n: nDial,
      p50Ms: round(percentile(ms, 50)),
      p99Ms: round(percentile(ms, 99)),
      maxMs: round(max(ms)),
      dialerCpuMsP50: round(median(d['cpuUs'] as number[]) / 1000),
      acceptorCpuMsPerDial: round((bCpu1.cpuUserUs + bCpu1.cpuSystemUs - bCpu0.cpuUserUs - bCpu0.cpuSystemUs) / 1000 / nDial),
      udpBytesP50: median(d['udpBytes'] as number[]),
      datagramsP50: median(d['udpDatagrams'] as number[]),
    };
    progress(`micro: handshake+hello p50 ${handshake.p50Ms} ms, ${handshake.udpBytesP50} B on the wire`);

    // Round trips: back to back, then one every 500 ms (the pace of a probe exchange on the lan preset).
    const roundTrips = async (n: number, intervalMs: number) => {
      const b0 = await b!.sample();
      const t = await a!.request({ type: 'rtt-bench', target, n, intervalMs }, 30_000 + n * (intervalMs + 50));
      const b1 = await b!.sample();
      const ms = t['ms'] as number[];
      return {
        n: ms.length,
        intervalMs,
        p50Ms: round(percentile(ms, 50)),
        p99Ms: round(percentile(ms, 99)),
        dialerCpuMsPerRoundTrip: round((t['cpuUs'] as number) / 1000 / n),
        // The acceptor's figure covers the same span plus two sample requests (negligible).
        acceptorCpuMsPerRoundTrip: round((b1.cpuUserUs + b1.cpuSystemUs - b0.cpuUserUs - b0.cpuSystemUs) / 1000 / n),
      };
    };
    const transportRoundTrip = await roundTrips(nRtt, 0);
    progress(`micro: frame round trip back to back p50 ${transportRoundTrip.p50Ms} ms, CPU ${transportRoundTrip.dialerCpuMsPerRoundTrip} ms per side`);
    const sparseRoundTrip = await roundTrips(args.quick ? 10 : 40, 500);
    progress(`micro: frame round trip every 500 ms p50 ${sparseRoundTrip.p50Ms} ms, CPU ${sparseRoundTrip.dialerCpuMsPerRoundTrip} ms per side`);
    return { rssPerConnection, idleConnection, handshake, transportRoundTrip, sparseRoundTrip };
  } finally {
    await stopAll([a!, b!], 10_000);
  }
}

// ─── churn: RSS after many short-lived connections ─────────────────────────────────────

interface ChurnResult {
  nodeFlags: string[];
  handshakes: number;
  dialer: { beforeMiB: number; afterMiB: number; v8BeforeMiB: number; v8AfterMiB: number };
  acceptor: { beforeMiB: number; afterMiB: number; v8BeforeMiB: number; v8AfterMiB: number };
}

/**
 * A fresh pair of endpoint processes; the dialer opens, uses once and closes `n`
 * connections one after another. RSS (after a full GC) before and after, both sides: what
 * connection churn (a pool smaller than the cluster) does to a node's memory.
 */
async function runChurn(certs: CertStore, nodeFlags: string[], n: number): Promise<ChurnResult> {
  progress(`churn: ${n} connections opened and closed, node flags ${nodeFlags.join(' ') || '(none)'}`);
  const [a, b] = await spawn(['churn-dialer', 'churn-acceptor'], true, () => nodeFlags);
  try {
    await a!.request({ type: 'start-endpoint', id: 'churn-dialer', cluster: 'bench', tls: await certs.get('churn-dialer'), endpoint: SETTINGS['tuned']!.endpoint }, 20_000);
    const r = await b!.request({ type: 'start-endpoint', id: 'churn-acceptor', cluster: 'bench', tls: await certs.get('churn-acceptor'), endpoint: SETTINGS['tuned']!.endpoint }, 20_000);
    const target = r['address'] as string;
    await a!.request({ type: 'dial-bench', target, n: 3 }, 30_000); // code paths loaded
    const [a0, b0] = await sampleAll([a!, b!], true);
    await a!.request({ type: 'dial-bench', target, n }, 60_000 + n * 200);
    await sleep(1000);
    const [a1, b1] = await sampleAll([a!, b!], true);
    const side = (x: ChildSample, y: ChildSample) => ({
      beforeMiB: round(x.rss / MiB, 1),
      afterMiB: round(y.rss / MiB, 1),
      v8BeforeMiB: round(x.v8PhysicalBytes / MiB, 1),
      v8AfterMiB: round(y.v8PhysicalBytes / MiB, 1),
    });
    const res = { nodeFlags, handshakes: n, dialer: side(a0!, a1!), acceptor: side(b0!, b1!) };
    progress(`churn: dialer ${res.dialer.beforeMiB} → ${res.dialer.afterMiB} MiB, acceptor ${res.acceptor.beforeMiB} → ${res.acceptor.afterMiB} MiB`);
    return res;
  } finally {
    await stopAll([a!, b!], 10_000);
  }
}

// ─── clusters ──────────────────────────────────────────────────────────────────────────

interface ClusterSpec {
  label: string;
  n: number;
  setting: TransportSetting;
  pool: Record<string, number>;
  /** Nodes alone in their own process (measured directly); the rest are packed. */
  solo: number;
  perProcess: number;
  windowS: number;
  settleS: number;
  /** Keep settling past settleS until no dials for QUIET_DIALS_S, up to this (≤ settleS: fixed settle). */
  settleMaxS: number;
  convergeDeadlineS: number;
  /** Endpoint options when not the setting's (the big run scales its timeouts). */
  endpoint?: EndpointSetting;
  /** Measure even if the cluster did not converge (flagged in the result) instead of failing. */
  measureUnconverged?: boolean;
  /** Overrides of the preset for this run (the big run slows probing down). */
  config?: Record<string, number>;
  /** After the window, crash this many nodes one at a time (SIGKILL) and time their detection. */
  crashes?: number;
}

/** One crash: a node killed with SIGKILL, and when every other node saw it suspect and failed. */
interface CrashTrial {
  victim: string;
  observers: number;
  /** Observers that declared the victim failed before the deadline. */
  detectedBy: number;
  /** ms from the kill to the first observer's suspicion, and to the first / median / last observer's failure. */
  firstSuspectMs: number;
  firstFailedMs: number;
  failedP50Ms: number;
  allFailedMs: number;
}

interface Detection {
  trials: CrashTrial[];
  /** Over every observer of every trial: ms from the kill to its failure verdict. */
  failedMs: { p50: number; p99: number; max: number; n: number };
  /** Median over trials of the first suspicion / of the last observer's verdict (the crash known to all). */
  firstSuspectMsMedian: number;
  allFailedMsMedian: number;
  deadlineS: number;
}

interface NodeFigures {
  id: string;
  /** Nodes sharing the process (1 = alone; figures of packed nodes are per-process / k). */
  perProcess: number;
  cpuPct: number;
  rssMiB: number;
  rssStartMiB: number;
  rssMaxMiB: number;
  txBps: number;
  rxBps: number;
  txDatagramsPerS: number;
  probes: number;
  cpuMsPerProbeRound: number;
  dialsPerMin: number;
  poolOpenEnd: number;
  /** Memory split of the node's process at the end (packed: the whole process). */
  /** The node's process ran under the CPU profiler (left out of medians and maxima). */
  profiled: boolean;
  /** Share of the CPU time spent in the kernel (system). */
  cpuSystemShare: number;
  /** CPU ms per s by thread ('main' = the JS thread), whole process. */
  cpuMsPerSByThread: Record<string, number>;
  rssAnonMiB: number;
  rssFileMiB: number;
  v8PhysicalMiB: number;
  externalMiB: number;
}

interface ClusterResult {
  label: string;
  setting: TransportSetting;
  pool: Record<string, number>;
  endpoint: EndpointSetting;
  n: number;
  processes: number;
  soloNodes: number;
  converged: boolean;
  convergedAfterS: number;
  settledS: number;
  config?: Record<string, number>;
  windowS: number;
  loadAvg: { start: number[]; end: number[] };
  idleProcess: { cpuPct: number; rssMiB: number };
  /** A process of the same stack that only wakes WAKE_FLOOR_HZ times a second (absent in older results). */
  wakeFloor?: { hz: number; cpuPct: number };
  /** CPU ms one sample of a node process costs it (/proc reads …), median / max over the window's two samples of every node process: left out of the window. */
  sampleCostMs?: MedianMax;
  solo: {
    cpuPct: MedianMax;
    rssMiB: MedianMax;
    rssStartMiB: MedianMax;
    txBps: MedianMax;
    rxBps: MedianMax;
    wireInOutBps: MedianMax;
    cpuMsPerProbeRound: MedianMax;
    dialsPerMin: MedianMax;
    poolOpen: MedianMax;
  };
  packed?: { processes: number; nodesPerProcess: number[]; derivedRssMiB: MedianMax; cpuPctPerNode: MedianMax; txBpsPerNode: MedianMax };
  rtt: { n: number; p50Ms: number; p99Ms: number; maxMs: number; meanMs: number; quantilesMs?: [number, number][] };
  health: {
    suspicions: number;
    failuresDeclared: number;
    probeFailures: number;
    indirectProbes: number;
    refutations: number;
    sendFailures: number;
    poolExhausted: number;
    poolIdleClosed: number;
    poolEvictions: number;
    poolInboundRefused: number;
    membersNotAliveAtEnd: number;
  };
  /** Protocol messages sent per node per second in the window, by type (mean over nodes). */
  messagesPerNodePerS: Record<string, number>;
  memory: { rssAnonMiB: MedianMax; rssFileMiB: MedianMax; v8PhysicalMiB: MedianMax; idleRssAnonMiB: number; idleRssFileMiB: number };
  nodes: NodeFigures[];
  /** Crash trials after the window (absent: none ran). */
  detection?: Detection;
}

/** Sums over every process and node (progress lines while converging). */
function clusterTotals(ss: readonly ChildSample[]) {
  const nodes = ss.flatMap((s) => s.nodes);
  return {
    at: Math.max(...ss.map((s) => s.at)),
    dials: nodes.reduce((a, x) => a + x.poolDials, 0),
    suspicions: nodes.reduce((a, x) => a + x.suspicions, 0),
    gossip: nodes.reduce((a, x) => a + (x.sent['gossip'] ?? 0), 0),
    cpuMs: ss.reduce((a, s) => a + (s.cpuUserUs + s.cpuSystemUs) / 1000, 0),
  };
}

function nodeTotals(s: ChildSample) {
  const sum = (f: (n: NodeSample) => number) => s.nodes.reduce((a, n) => a + f(n), 0);
  return {
    probes: sum((n) => n.probes),
    dials: sum((n) => n.poolDials),
  };
}

const PROFILE_DIR = path.join(os.tmpdir(), 'bench-transport-prof');
const JOIN_WAVE_NODES = 10;
/** The first nodes started become the seeds of every later one. */
const SEEDS = 3;
const WAVE_WAIT_S = 30;
/** Settling ends once no node has dialed for this long (every pair that talks is connected). */
const QUIET_DIALS_S = 10;

async function runCluster(spec: ClusterSpec, certs: CertStore, preset: string, sampleEveryS: number, profile: readonly string[] = []): Promise<ClusterResult> {
  const { n } = spec;
  const program = spec.setting.transport === 'memberlist' ? memberlistProgram() : undefined;
  if (program && spec.perProcess > 1 && spec.solo < n) throw new Error(`${spec.label}: the memberlist child runs one node per process`);
  const ids = Array.from({ length: n }, (_, i) => `n${String(i).padStart(3, '0')}`);
  // Process layout: packed groups of perProcess first (they hold the seeds), then the
  // `solo` nodes alone in their processes — the measured ones, so none of them is a seed
  // unless every node is alone.
  const groups: string[][] = [];
  const packedCount = n - Math.min(spec.solo, n);
  for (let i = 0; i < packedCount; i += spec.perProcess) groups.push(ids.slice(i, Math.min(packedCount, i + spec.perProcess)));
  for (let i = packedCount; i < n; i++) groups.push([ids[i]!]);
  const endpointOpts = spec.endpoint ?? spec.setting.endpoint;
  progress(`${spec.label}: ${n} nodes in ${groups.length} processes (${spec.setting.name}: ${JSON.stringify({ pool: spec.pool, endpoint: endpointOpts })})`);
  const tls = await Promise.all(ids.map((id) => certs.get(id)));
  const tlsOf = new Map(ids.map((id, i) => [id, tls[i]!]));

  const kids: BenchChild[] = [];
  let idle: BenchChild | undefined;
  let wake: BenchChild | undefined;
  try {
    // Spawn in waves so module loading does not starve the machine.
    for (let i = 0; i < groups.length; i += 10) {
      checkBudget(`${spec.label} spawn`);
      kids.push(
        ...(await spawn(
          groups.slice(i, i + 10).map((g) => (g.length === 1 ? g[0]! : `${g[0]}+${g.length - 1}`)),
          false,
          (label) => [...spec.setting.nodeFlags, ...(profile.includes(label) ? [`--cpu-prof`, `--cpu-prof-dir=${PROFILE_DIR}`] : [])],
          program ? undefined : spec.setting.env,
          program,
        )),
      );
    }
    [idle, wake] = await spawn(['idle', 'wake-floor'], false, () => spec.setting.nodeFlags, spec.setting.env);
    await wake!.request({ type: 'wake', everyMs: 1000 / WAKE_FLOOR_HZ }, 10_000);
    progress(`${spec.label}: ${kids.length + 1} processes up; starting the seed`);
    const startMsg = (group: string[], seeds: string[]) =>
      ({
        type: 'start-nodes',
        cluster: 'bench',
        preset,
        config: spec.setting.nodeConfig ? { ...spec.config, ...spec.setting.nodeConfig } : spec.config,
        pool: spec.pool,
        endpoint: endpointOpts,
        seeds,
        nodes: group.map((id) => ({ id, tls: tlsOf.get(id)! })),
        transport: spec.setting.transport,
      }) as const;
    // The first node starts alone; the next two join through it and then serve as seeds too.
    // Nodes are started in waves of about JOIN_WAVE_NODES; a wave starts once every node
    // started so far sees at least 90 % of them alive (or after WAVE_WAIT_S), so a single
    // seed is not hit by every join at once.
    const seeds: string[] = [];
    const t0 = Date.now();
    let started = 0;
    let next = 0;
    while (next < groups.length) {
      checkBudget(`${spec.label} start`);
      const wave: number[] = [];
      let waveNodes = 0;
      const limit = next < 3 ? 1 : JOIN_WAVE_NODES;
      while (next < groups.length && (wave.length === 0 || waveNodes + groups[next]!.length <= limit)) {
        wave.push(next);
        waveNodes += groups[next]!.length;
        next++;
      }
      const replies = await Promise.all(wave.map((gi) => kids[gi]!.request(startMsg(groups[gi]!, [...seeds]), 60_000)));
      for (const r of replies) if (seeds.length < SEEDS) seeds.push(...(r['addresses'] as string[]).slice(0, SEEDS - seeds.length));
      started += waveNodes;
      if (next >= groups.length) break;
      const waveStart = Date.now();
      while (Date.now() - waveStart < WAVE_WAIT_S * 1000) {
        const ss = await sampleAll(kids.slice(0, next));
        const nodes = ss.flatMap((x) => x.nodes);
        if (nodes.every((x) => x.alive >= 0.9 * started)) break;
        await sleep(500);
      }
    }
    progress(`${spec.label}: all ${started} nodes started (${Math.round((Date.now() - t0) / 1000)} s); waiting for convergence (every node sees ${n} alive)`);
    let convergedAfterS = NaN;
    let lastReport = 0;
    let prevTotals: ReturnType<typeof clusterTotals> | undefined;
    const convergeStart = Date.now();
    while (Date.now() - convergeStart < spec.convergeDeadlineS * 1000) {
      checkBudget(`${spec.label} convergence`);
      const ss = await sampleAll(kids);
      const nodes = ss.flatMap((s) => s.nodes);
      const done = nodes.filter((x) => x.alive === n && x.suspect === 0 && x.failed === 0).length;
      if (done === n) {
        convergedAfterS = (Date.now() - t0) / 1000;
        break;
      }
      if (Date.now() - lastReport > 5000) {
        const tot = clusterTotals(ss);
        const d = (k: keyof typeof tot) => (prevTotals ? tot[k] - prevTotals[k] : 0);
        const secs = prevTotals ? (tot.at - prevTotals.at) / 1000 : 1;
        progress(
          `${spec.label}: ${done}/${n} nodes see everyone alive (min alive seen ${Math.min(...nodes.map((x) => x.alive))}); per s: dials ${fmt(d('dials') / secs)}, suspicions ${fmt(d('suspicions') / secs)}, gossip msgs ${fmt(d('gossip') / secs)}, CPU ${fmt(d('cpuMs') / secs / 10)} % of a core`,
        );
        lastReport = Date.now();
        prevTotals = tot;
      }
      await sleep(1000);
    }
    if (!Number.isFinite(convergedAfterS)) {
      if (!spec.measureUnconverged) throw new Error(`${spec.label}: no convergence within ${spec.convergeDeadlineS} s after the last node started`);
      progress(`${spec.label}: NOT converged within ${spec.convergeDeadlineS} s; measuring anyway (the result is flagged)`);
    }
    progress(
      `${spec.label}: converged after ${convergedAfterS.toFixed(1)} s; settling ${spec.settleS} s${spec.settleMaxS > spec.settleS ? `, then until no dials for ${QUIET_DIALS_S} s (at most ${spec.settleMaxS} s)` : ''}`,
    );
    const settleStart = Date.now();
    await sleep(spec.settleS * 1000);
    if (spec.settleMaxS > spec.settleS) {
      const dials = async () => (await sampleAll(kids)).reduce((a, x) => a + nodeTotals(x).dials, 0);
      let last = await dials();
      let quietSince = Date.now();
      while (Date.now() - settleStart < spec.settleMaxS * 1000 && Date.now() - quietSince < QUIET_DIALS_S * 1000) {
        checkBudget(`${spec.label} settle`);
        await sleep(2000);
        const d = await dials();
        if (d !== last) {
          last = d;
          quietSince = Date.now();
        }
      }
    }
    const settledS = round((Date.now() - settleStart) / 1000, 0);

    // The window.
    checkBudget(`${spec.label} window`);
    const loadStart = os.loadavg().map((x) => round(x, 2));
    const all = [...kids, wake!, idle!];
    // The children are sampled at the window's two ends only (a sample's /proc reads cost a
    // cold process about a millisecond of CPU); in between, this process reads their RSS from /proc.
    const first = await sampleAll(all);
    const rssMax = first.map((s) => s.rss);
    const windowEnd = Date.now() + spec.windowS * 1000;
    while (Date.now() < windowEnd) {
      await sleep(Math.min(sampleEveryS * 1000, Math.max(0, windowEnd - Date.now())));
      checkBudget(`${spec.label} window`);
      first.forEach((s, i) => {
        rssMax[i] = Math.max(rssMax[i]!, rssOf(s.pid));
      });
      const left = Math.max(0, Math.round((windowEnd - Date.now()) / 1000));
      if (left > 0) progress(`${spec.label}: window ${spec.windowS - left}/${spec.windowS} s`);
    }
    const last = await sampleAll(all);
    const rtts = last.flatMap((s) => s.nodes.flatMap((nd) => nd.rtts));
    const loadEnd = os.loadavg().map((x) => round(x, 2));

    const idleFirst = first[first.length - 1]!;
    const idleLast = last[last.length - 1]!;
    /** CPU from the end of sample a to the start of sample b: the sampling itself left out. */
    const cpuUs = (a: ChildSample, b: ChildSample) => b.cpuUserUs + b.cpuSystemUs - a.cpuAfterUs;
    const cpuWallMs = (a: ChildSample, b: ChildSample) => b.at - a.atAfter;
    const idleProcess = {
      cpuPct: round((cpuUs(idleFirst, idleLast) / cpuWallMs(idleFirst, idleLast)) * 100 / 1000, 3),
      rssMiB: round(idleLast.rss / MiB, 1),
    };
    const [wakeFirst, wakeLast] = [first[first.length - 2]!, last[last.length - 2]!];
    const wakeFloor = { hz: WAKE_FLOOR_HZ, cpuPct: round((cpuUs(wakeFirst, wakeLast) / cpuWallMs(wakeFirst, wakeLast)) * 100 / 1000, 3) };

    const figures: NodeFigures[] = [];
    const health = {
      suspicions: 0,
      failuresDeclared: 0,
      probeFailures: 0,
      indirectProbes: 0,
      refutations: 0,
      sendFailures: 0,
      poolExhausted: 0,
      poolIdleClosed: 0,
      poolEvictions: 0,
      poolInboundRefused: 0,
      membersNotAliveAtEnd: 0,
    };
    const sentByType: Record<string, number> = {};
    let windowS = 0;
    const packedRss: number[] = [];
    kids.forEach((_, i) => {
      const a = first[i]!;
      const b = last[i]!;
      const k = b.nodes.length;
      const wallS = (b.at - a.at) / 1000;
      windowS = Math.max(windowS, wallS);
      const ta = nodeTotals(a);
      const tb = nodeTotals(b);
      b.nodes.forEach((nb, j) => {
        const na = a.nodes[j]!;
        health.suspicions += nb.suspicions - na.suspicions;
        health.failuresDeclared += nb.failuresDeclared - na.failuresDeclared;
        health.probeFailures += nb.probeFailures - na.probeFailures;
        health.indirectProbes += nb.indirectProbes - na.indirectProbes;
        health.refutations += nb.refutations - na.refutations;
        health.sendFailures += nb.sendFailures - na.sendFailures;
        health.poolExhausted += nb.poolExhausted - na.poolExhausted;
        health.poolIdleClosed += nb.poolIdleClosed - na.poolIdleClosed;
        health.poolEvictions += nb.poolEvictions - na.poolEvictions;
        health.poolInboundRefused += nb.poolInboundRefused - na.poolInboundRefused;
        for (const [t, v] of Object.entries(nb.sent)) sentByType[t] = (sentByType[t] ?? 0) + v - (na.sent[t] ?? 0);
        health.membersNotAliveAtEnd += n - nb.alive;
      });
      const probes = (tb.probes - ta.probes) / k;
      const cpuMs = cpuUs(a, b) / 1000 / k;
      // Packed nodes: the process's idle floor counted once, the rest shared evenly.
      const rssNode = k === 1 ? b.rss : idleLast.rss + (b.rss - idleLast.rss) / k;
      if (k > 1) packedRss.push(rssNode);
      for (const nb of b.nodes) {
        figures.push({
          id: nb.id,
          perProcess: k,
          cpuPct: round((cpuMs / cpuWallMs(a, b)) * 100, 3),
          rssMiB: round(rssNode / MiB, 1),
          rssStartMiB: round((k === 1 ? a.rss : idleLast.rss + (a.rss - idleLast.rss) / k) / MiB, 1),
          rssMaxMiB: round((k === 1 ? rssMax[i]! : idleLast.rss + (rssMax[i]! - idleLast.rss) / k) / MiB, 1),
          txBps: round((b.udp.txBytes - a.udp.txBytes) / k / wallS, 1),
          rxBps: round((b.udp.rxBytes - a.udp.rxBytes) / k / wallS, 1),
          txDatagramsPerS: round((b.udp.txDatagrams - a.udp.txDatagrams) / k / wallS, 2),
          probes: round(probes, 1),
          cpuMsPerProbeRound: round(probes > 0 ? cpuMs / probes : NaN, 3),
          dialsPerMin: round(((tb.dials - ta.dials) / k / wallS) * 60, 2),
          poolOpenEnd: nb.poolOpen,
          profiled: profile.includes(nb.id),
          cpuSystemShare: round((b.cpuSystemUs - a.cpuSystemUs) / Math.max(1, b.cpuUserUs + b.cpuSystemUs - a.cpuUserUs - a.cpuSystemUs), 2),
          cpuMsPerSByThread: Object.fromEntries(
            Object.entries(b.threadTicks)
              .map(([t, v]) => [t, round(((v - (a.threadTicks[t] ?? 0)) * 10) / wallS, 2)] as const)
              .filter(([, v]) => v > 0),
          ),
          rssAnonMiB: round((b.procStatus['RssAnon'] ?? NaN) / MiB, 1),
          rssFileMiB: round((b.procStatus['RssFile'] ?? NaN) / MiB, 1),
          v8PhysicalMiB: round(b.v8PhysicalBytes / MiB, 1),
          externalMiB: round(b.external / MiB, 1),
        });
      }
    });
    const solo = figures.filter((f) => f.perProcess === 1 && !f.profiled);
    const packed = figures.filter((f) => f.perProcess > 1 && !f.profiled);
    const mm = medianMax;
    const result: ClusterResult = {
      label: spec.label,
      setting: spec.setting,
      pool: spec.pool,
      endpoint: endpointOpts,
      n,
      processes: kids.length,
      soloNodes: solo.length,
      converged: Number.isFinite(convergedAfterS),
      convergedAfterS: round(convergedAfterS, 1),
      settledS,
      config: spec.config,
      windowS: round((idleLast.at - idleFirst.at) / 1000, 1),
      loadAvg: { start: loadStart, end: loadEnd },
      idleProcess,
      wakeFloor,
      sampleCostMs: medianMax([...first.slice(0, kids.length), ...last.slice(0, kids.length)].map((x) => round((x.cpuAfterUs - x.cpuUserUs - x.cpuSystemUs) / 1000, 2))),
      solo: {
        cpuPct: mm(solo.map((f) => f.cpuPct)),
        rssMiB: mm(solo.map((f) => f.rssMiB), 1),
        rssStartMiB: mm(solo.map((f) => f.rssStartMiB), 1),
        txBps: mm(solo.map((f) => f.txBps), 1),
        rxBps: mm(solo.map((f) => f.rxBps), 1),
        wireInOutBps: mm(solo.map((f) => f.txBps + f.rxBps), 1),
        cpuMsPerProbeRound: mm(solo.map((f) => f.cpuMsPerProbeRound)),
        dialsPerMin: mm(solo.map((f) => f.dialsPerMin), 2),
        poolOpen: mm(solo.map((f) => f.poolOpenEnd), 0),
      },
      packed: packed.length
        ? {
            processes: kids.filter((_, i) => last[i]!.nodes.length > 1).length,
            nodesPerProcess: kids.map((_, i) => last[i]!.nodes.length).filter((k) => k > 1),
            derivedRssMiB: mm(packedRss.map((x) => x / MiB), 1),
            cpuPctPerNode: mm(packed.map((f) => f.cpuPct)),
            txBpsPerNode: mm(packed.map((f) => f.txBps), 1),
          }
        : undefined,
      messagesPerNodePerS: Object.fromEntries(Object.entries(sentByType).map(([t, v]) => [t, round(v / n / windowS, 3)])),
      memory: {
        rssAnonMiB: mm(solo.map((f) => f.rssAnonMiB), 1),
        rssFileMiB: mm(solo.map((f) => f.rssFileMiB), 1),
        v8PhysicalMiB: mm(solo.map((f) => f.v8PhysicalMiB), 1),
        idleRssAnonMiB: round((idleLast.procStatus['RssAnon'] ?? NaN) / MiB, 1),
        idleRssFileMiB: round((idleLast.procStatus['RssFile'] ?? NaN) / MiB, 1),
      },
      rtt: {
        n: rtts.length,
        p50Ms: round(percentile(rtts, 50)),
        p99Ms: round(percentile(rtts, 99)),
        maxMs: round(max(rtts)),
        meanMs: round(mean(rtts)),
        quantilesMs: RTT_QUANTILES.map((p) => [p, round(percentile(rtts, p))]),
      },
      health,
      nodes: figures,
    };
    progress(
      `${spec.label}: cpu ${fmt(result.solo.cpuPct.median)} % (max ${fmt(result.solo.cpuPct.max)}), rss ${fmt(result.solo.rssMiB.median)} MiB, tx ${fmt(result.solo.txBps.median)} B/s, rtt p50 ${fmt(result.rtt.p50Ms)} ms`,
    );
    if (spec.crashes) result.detection = await runCrashTrials(spec, kids, groups);
    return result;
  } finally {
    const extra = [idle, wake].filter((k): k is BenchChild => k !== undefined);
    progress(`${spec.label}: stopping ${kids.length + extra.length} processes`);
    await stopAll([...kids, ...extra], 15_000);
  }
}

const CRASH_DEADLINE_S = 90;
const CRASH_POLL_MS = 500;
/** Pause between trials, so the previous crash's gossip has died down. */
const CRASH_GAP_S = 5;

/**
 * Crash trials on a converged cluster, after its window: the last `spec.crashes` nodes that
 * run alone in a process (never a seed) are killed with SIGKILL one at a time. Before each
 * kill every other node is told to watch the victim; each then records (with its own clock,
 * epoch ms, the parent's clock on this machine) when it first saw the victim suspect and
 * failed. A trial ends when every observer has declared the victim failed, or at the deadline.
 */
async function runCrashTrials(spec: ClusterSpec, kids: BenchChild[], groups: readonly string[][]): Promise<Detection> {
  const soloIdx = groups.map((g, i) => (g.length === 1 && i >= SEEDS ? i : -1)).filter((i) => i >= 0);
  const victims = soloIdx.slice(soloIdx.length - Math.min(spec.crashes ?? 0, soloIdx.length));
  const trials: CrashTrial[] = [];
  const all: number[] = [];
  for (const vi of victims) {
    checkBudget(`${spec.label} crash`);
    const victim = groups[vi]![0]!;
    const observers = kids.filter((k, i) => i !== vi && !k.exited);
    await Promise.all(observers.map((k) => k.request({ type: 'watch', id: victim }, 10_000)));
    const killedAt = Date.now();
    kids[vi]!.kill();
    progress(`${spec.label}: killed ${victim} (SIGKILL); waiting until every other node declares it failed`);
    let nodes: NodeSample[] = [];
    while (Date.now() - killedAt < CRASH_DEADLINE_S * 1000) {
      await sleep(CRASH_POLL_MS);
      nodes = (await sampleAll(observers)).flatMap((s) => s.nodes);
      if (nodes.every((x) => x.watched?.failedAt !== undefined)) break;
    }
    const since = (t: number | undefined) => (t === undefined ? NaN : round(t - killedAt, 0));
    const failed = nodes.map((x) => since(x.watched?.failedAt)).filter(Number.isFinite);
    const suspected = nodes.map((x) => since(x.watched?.suspectAt ?? x.watched?.failedAt)).filter(Number.isFinite);
    all.push(...failed);
    const trial: CrashTrial = {
      victim,
      observers: nodes.length,
      detectedBy: failed.length,
      firstSuspectMs: suspected.length ? Math.min(...suspected) : NaN,
      firstFailedMs: failed.length ? Math.min(...failed) : NaN,
      failedP50Ms: round(percentile(failed, 50), 0),
      allFailedMs: failed.length === nodes.length ? Math.max(...failed) : NaN,
    };
    trials.push(trial);
    progress(
      `${spec.label}: ${victim}: first suspected after ${fmt(trial.firstSuspectMs)} ms, failed at the first node after ${fmt(trial.firstFailedMs)} ms, at all ${trial.observers} after ${fmt(trial.allFailedMs)} ms`,
    );
    await sleep(CRASH_GAP_S * 1000);
  }
  return {
    trials,
    failedMs: { p50: round(percentile(all, 50), 0), p99: round(percentile(all, 99), 0), max: round(max(all), 0), n: all.length },
    firstSuspectMsMedian: round(median(trials.map((t) => t.firstSuspectMs)), 0),
    allFailedMsMedian: round(median(trials.map((t) => t.allFailedMs)), 0),
    deadlineS: CRASH_DEADLINE_S,
  };
}

/** The endpoint's QUIC idle timeout and keep-alive interval × scale (0 stays 0). */
function scaledEndpoint(e: EndpointSetting, scale: number): EndpointSetting {
  const idle = Number(e['maxIdleTimeoutMs'] ?? (e['datagrams'] === false ? DEFAULT_MAX_IDLE_TIMEOUT_MS : DEFAULT_MAX_IDLE_TIMEOUT_MS_WITH_DATAGRAMS));
  const keepAlive = Number(e['keepAliveIntervalMs'] ?? DEFAULT_KEEP_ALIVE_INTERVAL_MS);
  return { ...e, maxIdleTimeoutMs: idle * scale, keepAliveIntervalMs: keepAlive * scale };
}

/** The preset's periodic timings × scale (1: no overrides). Suspicion timeouts follow probeIntervalMs by themselves. */
function scaledTimings(preset: string, scale: number): Record<string, number> | undefined {
  if (scale === 1) return undefined;
  const p = PRESETS[preset as PresetName];
  const keys = ['probeIntervalMs', 'probeTimeoutMs', 'gossipIntervalMs', 'pushPullIntervalMs', 'reconnectIntervalMs'] as const;
  return Object.fromEntries(keys.map((k) => [k, p[k] * scale]));
}

// ─── report ────────────────────────────────────────────────────────────────────────────

interface Report {
  benchmark: 'transport';
  date: string;
  command: string;
  machine: Machine;
  args: Omit<Args, 'phases'> & { phases: Phase[] };
  wireCounting: string;
  micro?: MicroResult;
  churn?: ChurnResult[];
  steady: ClusterResult[];
  big?: ClusterResult & { comparedWith: string; rssDeltaMiB: number };
  targets: { name: string; config: string; value: number; limit: number; unit: string; verdict: Verdict }[];
  durationS: number;
  /** When the run ended (ISO 8601): orders saved runs in the history picture. */
  finishedAt?: string;
  /** Versions of the Go reference, when a memberlist setting ran. */
  memberlist?: { package: string; go: string };
}

const WIRE_COUNTING =
  'UDP payload bytes counted in each node process at node:dgram (Socket.prototype.send wrapped, and the socket ' +
  "'message' event), installed before js-quic creates its socket: every QUIC datagram (handshake, stream data, " +
  'ACK-only packets, keep-alive PINGs, CONNECTION_CLOSE) is counted; IP/UDP headers (28 B per datagram) are not. ' +
  '"tx" is what a node sends; summed over the cluster it equals the total wire traffic, so tx per node is the wire ' +
  'bytes per node; "in+out" is tx + rx.';

function evaluateTargets(r: Report): Report['targets'] {
  const out: Report['targets'] = [];
  for (const c of r.steady) {
    if (isReference(c.setting)) continue; // a reference, not a transport of ours
    const add = (name: string, value: number, limit: number, unit: string) => out.push({ name, config: c.setting.name, value, limit, unit, verdict: verdict(value, limit, unit) });
    add('probe round trip p50', c.rtt.p50Ms, 1.5, 'ms');
    add('CPU per node (median)', c.solo.cpuPct.median, 0.5, '% of one core');
    add('CPU per node (max)', c.solo.cpuPct.max, 0.5, '% of one core');
    add('RSS per node (max)', c.solo.rssMiB.max, 80, 'MiB');
    add('wire tx per node (median)', c.solo.txBps.median, 500, 'B/s');
    add('wire tx per node (max)', c.solo.txBps.max, 500, 'B/s');
    add('wire in+out per node (median)', c.solo.wireInOutBps.median, 500, 'B/s');
  }
  if (r.big) out.push({ name: `RSS ${r.big.n}-node (maxTotal ${r.big.pool['maxTotal']}) minus ${r.big.comparedWith}`, config: r.big.setting.name, value: r.big.rssDeltaMiB, limit: 30, unit: 'MiB', verdict: verdict(r.big.rssDeltaMiB, 30, 'MiB') });
  return out;
}

function printTables(r: Report): string {
  const parts: string[] = [];
  if (r.micro) {
    const m = r.micro;
    parts.push(
      table(
        ['transport alone (2 processes)', 'value'],
        [
          ['handshake + hello, fresh dial: p50 / p99 / max', `${fmt(m.handshake.p50Ms)} / ${fmt(m.handshake.p99Ms)} / ${fmt(m.handshake.maxMs)} ms (n=${m.handshake.n})`],
          ['handshake CPU: dialer p50 / acceptor mean', `${fmt(m.handshake.dialerCpuMsP50)} / ${fmt(m.handshake.acceptorCpuMsPerDial)} ms`],
          ['handshake bytes on the wire (both ways, p50)', `${m.handshake.udpBytesP50} B in ${m.handshake.datagramsP50} datagrams`],
          [
            `an open, unused connection, ${m.idleConnection.keepAliveIntervalMs > 0 ? `keep-alive every ${m.idleConnection.keepAliveIntervalMs} ms` : 'keep-alive off'} (endpoint defaults; both ends)`,
            `${fmt(m.idleConnection.cpuMsPerSBothSides)} ms/s CPU, ${fmt(m.idleConnection.wireBpsBothSides)} B/s (${m.idleConnection.connections} connections, ${m.idleConnection.seconds} s)`,
          ],
          ['RSS per open connection: dialer / acceptor side', `${m.rssPerConnection.dialerKiB} / ${m.rssPerConnection.acceptorKiB} KiB (${m.rssPerConnection.connections} connections, one echo each)`],
          ...[m.transportRoundTrip, m.sparseRoundTrip].map((x) => [
            `64 B echo on one connection, ${x.intervalMs ? `one every ${x.intervalMs} ms` : 'back to back'}: p50 / p99; CPU per round trip dialer / acceptor`,
            `${fmt(x.p50Ms)} / ${fmt(x.p99Ms)} ms (n=${x.n}); ${fmt(x.dialerCpuMsPerRoundTrip)} / ${fmt(x.acceptorCpuMsPerRoundTrip)} ms`,
          ]),
        ],
      ),
    );
  }
  if (r.churn?.length) {
    parts.push(
      table(
        ['connection churn (fresh pair of processes, RSS after full GC)', 'dialer RSS before → after (V8 heap)', 'acceptor RSS before → after (V8 heap)'],
        r.churn.map((c) => [
          `${c.handshakes} connections opened, used once, closed; node ${c.nodeFlags.join(' ') || '(no flags)'}`,
          `${fmt(c.dialer.beforeMiB)} → ${fmt(c.dialer.afterMiB)} MiB (${fmt(c.dialer.v8BeforeMiB)} → ${fmt(c.dialer.v8AfterMiB)})`,
          `${fmt(c.acceptor.beforeMiB)} → ${fmt(c.acceptor.afterMiB)} MiB (${fmt(c.acceptor.v8BeforeMiB)} → ${fmt(c.acceptor.v8AfterMiB)})`,
        ]),
      ),
    );
  }
  const clusters = [...r.steady, ...(r.big ? [r.big] : [])];
  if (clusters.length) {
    const mm = (x: MedianMax) => `${fmt(x.median)} / ${fmt(x.max)}`;
    parts.push(
      table(
        ['cluster (median / max over nodes alone in a process)', ...clusters.map((c) => `${c.n} nodes, ${c.setting.name}${c.pool['maxTotal'] ? `, maxTotal ${c.pool['maxTotal']}` : ''}`)],
        [
          ['nodes measured alone / processes', ...clusters.map((c) => `${c.soloNodes} / ${c.processes}`)],
          ['converged after / settled / window (s)', ...clusters.map((c) => `${fmt(c.convergedAfterS)} / ${c.settledS} / ${fmt(c.windowS)}`)],
          ['preset overrides', ...clusters.map((c) => (c.config ? Object.entries(c.config).map(([k, v]) => `${k} ${v}`).join(', ') : '—'))],
          ['CPU % of one core', ...clusters.map((c) => mm(c.solo.cpuPct))],
          ['RSS MiB at the end of the window', ...clusters.map((c) => mm(c.solo.rssMiB))],
          ['RSS MiB at the start of the window', ...clusters.map((c) => mm(c.solo.rssStartMiB))],
          ['  of which anonymous (private) / file-backed MiB', ...clusters.map((c) => `${fmt(c.memory.rssAnonMiB.median)} / ${fmt(c.memory.rssFileMiB.median)}`)],
          ['  V8 heap physical MiB', ...clusters.map((c) => mm(c.memory.v8PhysicalMiB))],
          ['wire tx B/s (UDP payload)', ...clusters.map((c) => mm(c.solo.txBps))],
          ['wire rx B/s', ...clusters.map((c) => mm(c.solo.rxBps))],
          ['wire in+out B/s', ...clusters.map((c) => mm(c.solo.wireInOutBps))],
          ['CPU ms per probe round', ...clusters.map((c) => mm(c.solo.cpuMsPerProbeRound))],
          ['probe rtt p50 / p99 ms (core samples)', ...clusters.map((c) => `${fmt(c.rtt.p50Ms)} / ${fmt(c.rtt.p99Ms)} (n=${c.rtt.n})`)],
          ['pool: open connections at end', ...clusters.map((c) => mm(c.solo.poolOpen))],
          ['pool: dials per node per minute', ...clusters.map((c) => mm(c.solo.dialsPerMin))],
          ['pool in window: idle-closed / evicted / inbound refused', ...clusters.map((c) => `${c.health.poolIdleClosed} / ${c.health.poolEvictions} / ${c.health.poolInboundRefused}`)],
          ['messages sent per node per s', ...clusters.map((c) => Object.entries(c.messagesPerNodePerS).filter(([, v]) => v > 0).map(([t, v]) => `${t} ${fmt(v)}`).join(', '))],
          ['window: suspicions / failures / probe failures', ...clusters.map((c) => `${c.health.suspicions} / ${c.health.failuresDeclared} / ${c.health.probeFailures}`)],
          [
            'crash (SIGKILL) → first suspicion / failed at every node, ms (median of trials)',
            ...clusters.map((c) => (c.detection?.trials.length ? `${fmt(c.detection.firstSuspectMsMedian)} / ${fmt(c.detection.allFailedMsMedian)} (${c.detection.trials.length} trials)` : '—')),
          ],
          [
            'crash → failure verdict at each node: p50 / p99 / max ms',
            ...clusters.map((c) => (c.detection?.failedMs.n ? `${fmt(c.detection.failedMs.p50)} / ${fmt(c.detection.failedMs.p99)} / ${fmt(c.detection.failedMs.max)} (n=${c.detection.failedMs.n})` : '—')),
          ],
          ['idle Node process: CPU % / RSS (anon + file) MiB', ...clusters.map((c) => `${fmt(c.idleProcess.cpuPct)} / ${fmt(c.idleProcess.rssMiB)} (${fmt(c.memory.idleRssAnonMiB)} + ${fmt(c.memory.idleRssFileMiB)})`)],
          [`same process waking ${WAKE_FLOOR_HZ}×/s, nothing else: CPU % (the wake floor)`, ...clusters.map((c) => (c.wakeFloor ? `${fmt(c.wakeFloor.cpuPct)} (${c.wakeFloor.hz} Hz)` : '—'))],
          ['CPU ms one bench sample costs a node process (left out of the window)', ...clusters.map((c) => (c.sampleCostMs ? `${fmt(c.sampleCostMs.median)} / ${fmt(c.sampleCostMs.max)}` : '—'))],
          ['load average (1 min) start → end', ...clusters.map((c) => `${c.loadAvg.start[0]} → ${c.loadAvg.end[0]}`)],
        ],
      ),
    );
  }
  if (r.big?.packed) {
    const p = r.big.packed;
    parts.push(
      `Packed nodes of the ${r.big.n}-node run (${p.processes} processes of ${[...new Set(p.nodesPerProcess)].join('/')} nodes): derived RSS per node ${fmt(p.derivedRssMiB.median)} / ${fmt(p.derivedRssMiB.max)} MiB, CPU ${fmt(p.cpuPctPerNode.median)} / ${fmt(p.cpuPctPerNode.max)} %, tx ${fmt(p.txBpsPerNode.median)} / ${fmt(p.txBpsPerNode.max)} B/s (median / max).`,
    );
  }
  if (r.targets.length) parts.push(table(['target', 'setting', 'verdict'], r.targets.map((t) => [t.name, t.config, t.verdict.text])));
  return parts.join('\n\n');
}

const HEADING = '## Transport (issue 3)';

function docsSection(r: Report, tables: string, pictures: string): string {
  const by = (name: string) => r.steady.find((c) => c.setting.name === name);
  const def = by('defaults');
  const tuned = by('tuned');
  const semi = by('tuned-semi1');
  const lean = by('lean');
  const udp = by('udp-reference');
  const best = lean ?? semi ?? tuned ?? r.steady.filter((c) => !isReference(c.setting)).at(-1);
  const m = r.micro;
  const churn0 = r.churn?.find((c) => c.nodeFlags.length === 0);
  const churn1 = r.churn?.find((c) => c.nodeFlags.length > 0);
  const mm = (x: MedianMax, unit: string) => `${fmt(x.median)} ${unit} (max ${fmt(x.max)})`;
  const lines: string[] = [];
  const settingsList = r.steady.map((c) => `  - \`${c.setting.name}\`: ${c.setting.description}.`).join('\n');

  lines.push(`${HEADING}

Measured ${r.date} on ${r.machine.cpus} × ${r.machine.cpuModel} (a VM), Node ${r.machine.node}, on a machine shared with other
jobs (load averages are in the tables). Command (about ${Math.round(r.durationS / 60)} min; \`--args="--quick"\` is a one-minute smoke run):

\`\`\`
${r.command}
\`\`\`

Real nodes over QUIC with mutual TLS on 127.0.0.1, one child process per node, so CPU and RSS are a node's own
(code: \`tools/bench/transport/\`; every figure, per node: \`tools/bench/results/transport-${r.date}.json\`).

- **CPU**: the node process's \`process.cpuUsage()\` delta over the window ÷ wall time, in % of one core. The children
  are asked for figures only at the window's two ends, and the window runs from the end of the first sample to the start
  of the last, so the bench's own sampling (its /proc reads cost a node about a millisecond: see the table) is left out.
  RSS is read meanwhile from this process (/proc/<pid>/status), which does not wake the child. "CPU ms per probe round" is the CPU delta ÷ the node's own probe
  rounds (so it includes answering other nodes' probes and push-pull).
- **Wire**: ${WIRE_COUNTING} Checked against the kernel with \`node tools/bench/transport/dist/transport/verify-wire.js\` (root):
  in a private network namespace, lo's packet count equals the datagrams counted and its bytes equal the counted
  payload + 28 B per packet, exactly.
- **Probe round trip**: the core's \`takeRttSamples()\` (successful direct probes) of every node over the window, with the
  runtime's default clock (\`preciseClock()\`: sub-millisecond resolution, never behind Date.now): from the ping being
  handed out to the ack coming off the socket (stamped before it is opened and decoded, as memberlist stamps packets; the
  UDP reference stamps the same way). The "64 B echo" rows are the transport alone (two bare endpoints, no protocol core).
- **Window**: ${r.args.windowS} s. It starts ${r.args.settleS} s after every node saw every node alive, or later, once no node
  has dialed for 10 s (every pair that talks is connected; at most ${r.args.settleMaxS} s).
- **Settings** compared (all other options at their defaults):
${settingsList}
`);
  if (r.big) {
    const b = r.big;
    lines.push(`- **${b.n} nodes, pool maxTotal ${b.pool['maxTotal']}**: ${b.soloNodes} nodes (not seeds) run alone in a process and are the ones
  measured; the other ${b.n - b.soloNodes} run ${r.args.bigPerProcess} per process (their per-node figures are the process's ÷ nodes; for RSS
  the idle process floor is counted once: floor + (process − floor) ÷ nodes). ${
    r.args.bigTimeScale === 1
      ? `The timings are the ${r.args.preset} preset's own`
      : `The periodic timings are the ${r.args.preset} preset's × ${r.args.bigTimeScale} (${Object.entries(b.config ?? {}).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'})`
  }, pool idleTimeoutMs ${b.pool['idleTimeoutMs']}, endpoint maxIdleTimeoutMs ${b.endpoint['maxIdleTimeoutMs']}.${b.converged ? '' : ' **This run did not converge; its figures are flagged.**'}
`);
  }
  lines.push(`### Results

${pictures}

${tables}
`);

  lines.push(`### What it takes to meet the targets
`);
  if (m && def && tuned) {
    lines.push(`**Keep-alives and idle timeouts (wire, CPU).** With the library defaults every open connection sends a QUIC PING
every ${m.idleConnection.keepAliveIntervalMs} ms and ACKs the other end's: an open but unused connection costs ${fmt(m.idleConnection.cpuMsPerSBothSides)} ms/s of CPU and
${fmt(m.idleConnection.wireBpsBothSides)} B/s (both ends together). A node of the 20-node cluster keeps ${fmt(def.solo.poolOpen.median)} connections, so keep-alives dominate:
defaults ${mm(def.solo.cpuPct, '%')} CPU and ${mm(def.solo.txBps, 'B/s')} on the wire, against ${mm(tuned.solo.cpuPct, '%')} and
${mm(tuned.solo.txBps, 'B/s')} with keep-alive off. SWIM's own traffic (a probe every second, so each pair talks every
few seconds) keeps the connections that matter alive, and failure detection never relied on QUIC noticing a dead
peer (STACK-NOTES). What remains on the wire is the protocol itself: ${Object.entries(tuned.messagesPerNodePerS).filter(([, v]) => v > 0).map(([t, v]) => `${t} ${fmt(v)}/s`).join(', ')} per node, each
probe exchange being 4 datagrams (ping 73 B, an ACK-only packet 43 B, ack 71 B, ACK-only 43 B).
**Needed as new defaults:** endpoint \`keepAliveIntervalMs: 0\`, and endpoint \`maxIdleTimeoutMs\` above the pool's
\`idleTimeoutMs\` (60 000 against the pool's 30 000), because without keep-alive QUIC's own idle timer (10 000 today) would close
healthy connections between two probes of a pair. The pool's 30 s idle timeout can stay: a pair exchanges a probe every
(n − 1) / 2 s on average; in the 20-node window ${tuned.health.poolIdleClosed} of the 190 connections were idle-closed (dials per node per minute: median
${fmt(tuned.solo.dialsPerMin.median)}, max ${fmt(tuned.solo.dialsPerMin.max)}), and a separate run with pool \`idleTimeoutMs\` 60 000 showed no difference. Beyond about 60 nodes the gaps pass 30 s and idle connections start to
cycle: that is the pool doing its job (memory for handshakes), not a leak.
`);
  }
  if (best && m) {
    lines.push(`**Wire.** ${best.solo.txBps.max <= 500 ? 'Met' : best.solo.txBps.median <= 500 ? 'Met by the median node' : 'Not met'} with keep-alive off: ${mm(best.solo.txBps, 'B/s')} sent per node (\`${best.setting.name}\`), which is what the cluster puts
on the wire per node (every byte is sent by one node and received by another). Counting each node's bytes in and out,
${mm(best.solo.wireInOutBps, 'B/s')}${best.solo.wireInOutBps.median > 500 ? `, ${fmt(((best.solo.wireInOutBps.median - 500) / 500) * 100)} % over` : ', also within'}. A handshake costs ${m.handshake.udpBytesP50} B (${m.handshake.datagramsP50} datagrams, certificates both ways), so every
avoidable reconnection shows: a dial per minute per node adds about ${Math.round(m.handshake.udpBytesP50 / 2 / 60)} B/s.
`);
    lines.push(`**Memory.** A Node process that has only loaded this stack (the "idle Node process") already holds ${fmt(best.idleProcess.rssMiB)} MiB RSS, of
which ${fmt(best.memory.idleRssFileMiB)} MiB are file-backed pages (mostly the node binary's code, shared by all node processes on a host) and ${fmt(best.memory.idleRssAnonMiB)} MiB
private. A running node adds its connections (${m.rssPerConnection.dialerKiB} KiB on the dialing side, ${m.rssPerConnection.acceptorKiB} KiB on the accepting side per open
connection) and heap: ${mm(best.solo.rssMiB, 'MiB')} (\`${best.setting.name}\`${tuned && semi ? `; \`tuned\` ${mm(tuned.solo.rssMiB, 'MiB')}` : ''}). Against the 80 MiB
target, the median node: ${verdict(best.solo.rssMiB.median, 80, 'MiB').text}; the largest: ${verdict(best.solo.rssMiB.max, 80, 'MiB').text}. The idle floor
alone moves by several MiB between runs, and about 44 MiB of every figure is the shared node binary. What moves it is connection churn: the handshakes of the join
(in the 100-node cluster, one per pair of members) make V8 grow its young generation, which it keeps.${
      churn0 && churn1
        ? ` After ${churn0.handshakes} short-lived connections the accepting process went from ${fmt(churn0.acceptor.beforeMiB)} to ${fmt(churn0.acceptor.afterMiB)} MiB (V8 heap
${fmt(churn0.acceptor.v8BeforeMiB)} → ${fmt(churn0.acceptor.v8AfterMiB)} MiB); with \`node --max-semi-space-size=1\` from ${fmt(churn1.acceptor.beforeMiB)} to ${fmt(churn1.acceptor.afterMiB)} MiB (V8 ${fmt(churn1.acceptor.v8BeforeMiB)} → ${fmt(churn1.acceptor.v8AfterMiB)}).`
        : ''
    }
${
      lean
        ? `Nodes run lean (\`apps/node/node-flags.json\`: \`node ${NODE_RUN.nodeFlags.join(' ')}\`, ${Object.entries(NODE_RUN.env).map(([k, v]) => `\`${k}=${v}\``).join(' ')}), as \`nx serve node\`, the \`shoal\` bin and the Docker image run them${def ? `; with plain \`node\` (\`defaults\`) the same cluster measured ${mm(def.solo.rssMiB, 'MiB')} RSS and ${mm(def.solo.cpuPct, '%')} CPU against lean's ${mm(lean.solo.cpuPct, '%')}` : ''}.`
        : `**Needed:** run nodes with \`--max-semi-space-size=1\`. Its CPU cost in the steady cluster is within run-to-run noise${tuned && semi ? ` (\`tuned\` ${mm(tuned.solo.cpuPct, '%')} vs \`tuned-semi1\` ${mm(semi.solo.cpuPct, '%')} CPU)` : ''}.`
    }
`);
    const floor = best.wakeFloor;
    const streams = by('lean-streams');
    const verdictWord = (ok: boolean) => (ok ? 'met' : 'not met');
    lines.push(`**CPU: ${verdictWord(best.solo.cpuPct.median <= 0.5)} by the median node${best.solo.cpuPct.max <= 0.5 ? ' and by every node' : `, ${verdictWord(best.solo.cpuPct.max <= 0.5)} by the busiest`}.** ${mm(best.solo.cpuPct, '% of one core')} (\`${best.setting.name}\`), i.e. ${mm(best.solo.cpuMsPerProbeRound, 'ms')} per probe round,
against 0.5 % (0.33 % quoted for the Go reference). Probes, acks and gossip travel as sealed datagrams
(\`libs/transport-quic/src/datagrams.ts\`: ChaCha20-Poly1305 under keys exchanged in the mutual-TLS hello); QUIC carries
the handshake, the hello and every message over ${DEFAULT_MAX_DATAGRAM_PAYLOAD_BYTES} bytes (push-pull).${
      streams
        ? ` With every message on the QUIC stream instead (\`lean-streams\`, the transport before sealed datagrams) the same cluster used
${mm(streams.solo.cpuPct, '%')}: a probe exchange there is 4 datagrams (QUIC acknowledges every packet that carries data, and js-quic sends
that ACK before the reply is written) and runs js-quic's per-packet path — an async lock per packet, EventTarget events, WHATWG
streams — on both ends.`
        : ''
    }${floor ? ` A process of the same stack that only wakes ${floor.hz} times a second and does nothing else used ${fmt(floor.cpuPct)} % of a core in the same run (the wake floor): on this VM every wake-up from idle costs.` : ''}
`);
    if (udp) {
      lines.push(`**The floor under any Node transport (\`udp-reference\`).** The same protocol core, preset, codec, timer policy and process
settings over plain, unauthenticated UDP datagrams — no QUIC, no TLS, no pool; a reference, not a transport of ours — used
${mm(udp.solo.cpuPct, '% of one core')}, sent ${mm(udp.solo.txBps, 'B/s')} and measured a probe round trip of p50 ${fmt(udp.rtt.p50Ms)} ms in the same run: the core and a
Node process alone take ${fmt((udp.solo.cpuPct.median / 0.5) * 100)} % of the 0.5 % budget. Over that floor, \`${best.setting.name}\` adds ${fmt(best.solo.cpuPct.median - udp.solo.cpuPct.median)} points of CPU and
${fmt(best.rtt.p50Ms - udp.rtt.p50Ms)} ms of round trip (sealing, the pool, QUIC for push-pull)${
        streams ? `; the stream path added ${fmt(streams.solo.cpuPct.median - udp.solo.cpuPct.median)} points and ${fmt(streams.rtt.p50Ms - udp.rtt.p50Ms)} ms` : ''
      }.
`);
    }
    const goRefs = r.steady.filter((c) => c.setting.transport === 'memberlist');
    if (goRefs.length) {
      const versions = r.memberlist ? ` ${r.memberlist.package} (Debian's package, built with ${r.memberlist.go})` : '';
      const pts = (x: number) => `${x >= 0 ? '+' : ''}${fmt(x)}`;
      lines.push(`**The Go reference in the same run (${goRefs.map((c) => `\`${c.setting.name}\``).join(', ')}).** HashiCorp memberlist${versions}, the library the
targets quote (0.33 % of a core, 0.17 kB/s), with its own LAN defaults, run by \`tools/bench/memberlist/main.go\` in the same
layout (one node per process, 20 processes), settle time and window as our nodes, in the same hour: ${goRefs
        .map(
          (c) =>
            `\`${c.setting.name}\` ${mm(c.solo.cpuPct, '% of one core')}, sent ${mm(c.solo.txBps, 'B/s')}, RSS ${mm(c.solo.rssMiB, 'MiB')}, probe round trip p50 ${fmt(c.rtt.p50Ms)} ms (p99 ${fmt(c.rtt.p99Ms)})`,
        )
        .join('; ')}. \`${best.setting.name}\` against ${goRefs
        .map((c) => `\`${c.setting.name}\`: CPU ${pts(best.solo.cpuPct.median - c.solo.cpuPct.median)} points (median), round trip ${pts(best.rtt.p50Ms - c.rtt.p50Ms)} ms`)
        .join('; ')}. Both round trips are timed alike: memberlist stamps just before it encodes and sends the ping and stamps the ack when it is read off the socket.${
        udp
          ? ` Of that, the plain-UDP floor (the same Node process and core, no cipher, pool or QUIC) already sits ${fmt(udp.rtt.p50Ms - goRefs[0]!.rtt.p50Ms)} ms and ${pts(
              udp.solo.cpuPct.median - goRefs[0]!.solo.cpuPct.median,
            )} points above \`${goRefs[0]!.setting.name}\`: what a wake-up of a Node process costs here against a Go one.`
          : ''
      } Memory is where the two differ most: a Go process of ${fmt(goRefs[0]!.solo.rssMiB.median)} MiB against a Node process that holds ${fmt(best.idleProcess.rssMiB)} MiB before it does anything.
`);
    }
    const detected = r.steady.filter((c) => c.detection?.trials.length);
    if (detected.length) {
      lines.push(`**Failure detection, real processes.** After each window, ${detected[0]!.detection!.trials.length} nodes were killed with SIGKILL one at a time; every other node recorded
when it first saw the victim suspect and when it declared it failed (its own clock, the same machine's). Median over the trials, from
the kill: ${detected
        .map(
          (c) =>
            `\`${c.setting.name}\` first suspicion ${fmt(c.detection!.firstSuspectMsMedian)} ms, failed at every node ${fmt(c.detection!.allFailedMsMedian)} ms (each node's verdict p50 ${fmt(c.detection!.failedMs.p50)}, max ${fmt(c.detection!.failedMs.max)} ms)`,
        )
        .join('; ')}. Our lan preset and memberlist's LAN defaults share the timings (probe 1 s, timeout 0.5 s, Lifeguard suspicion from 4·log10(n) probe
intervals, shortened by independent confirmations), so the verdicts land together; most of the spread is how soon some node happens to probe
the victim. The simulator's detection figures (above) cover larger clusters, loss and partitions.
`);
    }
    lines.push(`**Probe round trip: ${verdictWord(best.rtt.p50Ms <= 1.5)}.** p50 ${fmt(best.rtt.p50Ms)} ms, p99 ${fmt(best.rtt.p99Ms)} ms from the core's samples (\`${best.setting.name}\`)${
      streams ? `; ${fmt(streams.rtt.p50Ms)} ms with every message on the stream (\`lean-streams\`)` : ''
    }. The transport alone (two bare endpoints, one connection, 64-byte messages, which go as datagrams) answers in
${fmt(m.transportRoundTrip.p50Ms)} ms back to back and ${fmt(m.sparseRoundTrip.p50Ms)} ms at one every ${m.sparseRoundTrip.intervalMs} ms: both processes wake from idle for every probe.
`);
  }
  if (r.big) {
    const b = r.big;
    const ref = r.steady.find((c) => c.setting.name === b.setting.name);
    lines.push(`**100 nodes with maxTotal ${b.pool['maxTotal']}.** A node's RSS: ${mm(b.solo.rssMiB, 'MiB')} (${b.soloNodes} nodes alone in a process${
      ref ? `; the 20-node \`${ref.setting.name}\` median is ${fmt(ref.solo.rssMiB.median)} MiB, so ${fmt(b.rssDeltaMiB)} MiB apart: ${b.rssDeltaMiB <= 30 ? 'within' : 'more than'} 30 MiB` : ''
    }). The pool holds at most ${b.pool['maxTotal']} connections while probes go round-robin through all ${b.n - 1} other members, so
most probe targets have no open connection. Datagram keys outlive their connection (\`datagram-keyring.ts\`): once a pair
has been connected, probes, acks and gossip keep going as sealed datagrams with no new handshake, and only push-pull dials.
In the window: ${fmt(b.solo.dialsPerMin.median)} dials per node per minute (max ${fmt(b.solo.dialsPerMin.max)}), CPU ${mm(b.solo.cpuPct, '% of one core')}, ${fmt(
      b.solo.cpuMsPerProbeRound.median,
    )} ms of CPU per probe round, probe round trip p50 ${fmt(b.rtt.p50Ms)} ms, ${b.health.suspicions} suspicions${
      r.args.bigTimeScale === 1 ? ` — at the ${r.args.preset} preset's own speed` : ` (timings × ${r.args.bigTimeScale})`
    }. Before the keys outlived connections (session 3, timings × 20 because at ×1 the handshakes saturated both cores and
the cluster never settled) the same cluster needed 3 dials per node per minute, 30.5 ms of CPU per probe round and a probe
round trip of 26 ms. Joining is still a burst: every new pair needs one handshake (about ${m ? fmt(m.handshake.dialerCpuMsP50 + m.handshake.acceptorCpuMsPerDial) : '12'} ms of CPU for both ends), so
100 nodes started at once on these 2 cores took ${fmt(b.convergedAfterS)} s to see each other alive (on separate machines each node's share is ~${b.n - 1} handshakes).
`);
  }
  return lines.join('\n');
}

/** Draws the run's pictures (and the saved runs side by side) into docs/bench/ and rewrites this bench's docs section. */
async function writeDocs(root: string, r: Report, tables: string): Promise<void> {
  const history = transportHistoryChart(loadTransportRuns(root));
  const pictures = await writeCharts(root, [...transportCharts(r), ...(history ? [history] : [])]);
  writeDocsSection(root, HEADING, docsSection(r, tables, pictures));
}

// ─── main ──────────────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const args = parseArgs(argv);
  if (args.docsFrom) {
    const saved = JSON.parse(readFileSync(args.docsFrom, 'utf8')) as Report;
    saved.targets = evaluateTargets(saved);
    const tables = printTables(saved);
    process.stdout.write(`${tables}\n`);
    await writeDocs(findRoot(), saved, tables);
    progress(`rewrote the "${HEADING}" section of docs/BENCHMARKS.md from ${args.docsFrom}`);
    return;
  }
  installCleanup();
  const started = Date.now();
  startBudget(args.budgetMin, started);
  const root = findRoot();
  const date = new Date().toISOString().slice(0, 10);
  const certs = new CertStore();
  const report: Report = {
    benchmark: 'transport',
    date,
    command: `npx nx run transport-quic:bench${argv.length ? ` --args="${argv.join(' ')}"` : ''}`,
    machine: machineInfo(),
    args: { ...args, phases: [...args.phases] },
    wireCounting: WIRE_COUNTING,
    steady: [],
    targets: [],
    durationS: 0,
  };
  progress(`phases ${[...args.phases].join(',')}; configs ${args.configs.join(',')}; budget ${args.budgetMin} min`);
  if (args.phases.has('steady') && args.configs.some((c) => SETTINGS[c]!.transport === 'memberlist')) {
    memberlistProgram(); // built (or its missing packages named) before anything runs
    report.memberlist = memberlistVersion();
  }

  if (args.phases.has('micro')) {
    report.micro = await runMicro(certs, args);
    const n = args.quick ? 50 : 300;
    report.churn = [await runChurn(certs, [], n), await runChurn(certs, ['--max-semi-space-size=1'], n)];
  }

  if (args.phases.has('steady')) {
    for (const name of args.configs) {
      const setting = SETTINGS[name]!;
      report.steady.push(
        await runCluster(
          // A reference has no pool: its settling is the fixed part only (memberlist's push-pull connections would never let "no dials for 10 s" come).
          { label: `steady-${args.nodes}/${name}`, n: args.nodes, setting, pool: { ...setting.pool }, solo: args.nodes, perProcess: 1, windowS: args.windowS, settleS: args.settleS, settleMaxS: isReference(setting) ? args.settleS : args.settleMaxS, convergeDeadlineS: 120, crashes: setting.transport?.startsWith('udp') ? 0 : args.crashes },
          certs,
          args.preset,
          args.sampleEveryS,
          args.profile,
        ),
      );
    }
  }

  if (args.phases.has('big')) {
    const setting = SETTINGS[args.bigConfig]!;
    const big = await runCluster(
      {
        label: `big-${args.bigNodes}/${setting.name}`,
        n: args.bigNodes,
        setting,
        // Idle timeouts slowed down with the protocol, so connections live as long (in probe rounds) as at full speed.
        pool: { ...setting.pool, idleTimeoutMs: (setting.pool['idleTimeoutMs'] ?? POOL_DEFAULTS.idleTimeoutMs) * args.bigTimeScale, maxTotal: args.bigMaxTotal },
        endpoint: scaledEndpoint(setting.endpoint, args.bigTimeScale),
        solo: args.bigSolo,
        perProcess: args.bigPerProcess,
        windowS: args.bigWindowS,
        settleS: args.bigSettleS,
        settleMaxS: 0,
        convergeDeadlineS: 300,
        measureUnconverged: true,
        config: scaledTimings(args.preset, args.bigTimeScale),
      },
      certs,
      args.preset,
      args.sampleEveryS,
      args.profile,
    );
    const ref = report.steady.find((c) => c.setting.name === setting.name);
    report.big = {
      ...big,
      comparedWith: ref ? `${ref.n}-node ${ref.setting.name} (median RSS ${ref.solo.rssMiB.median} MiB)` : 'no 20-node run of this setting',
      rssDeltaMiB: ref ? round(big.solo.rssMiB.median - ref.solo.rssMiB.median, 1) : NaN,
    };
  }

  report.targets = evaluateTargets(report);
  report.durationS = round((Date.now() - started) / 1000, 0);
  report.finishedAt = new Date().toISOString();
  const tables = printTables(report);
  process.stdout.write(`${tables}\n`);

  const jsonFile = writeResults(root, `transport-${date}${args.quick ? '-quick' : ''}.json`, report);
  progress(`wrote ${path.relative(root, jsonFile)}`);
  if (args.docs) {
    await writeDocs(root, report, tables);
    progress(`rewrote the "${HEADING}" section of docs/BENCHMARKS.md`);
  }
  progress(`done in ${report.durationS} s`);
}

runMain('bench-transport', main, killAll);
