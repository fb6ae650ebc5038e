/**
 * Simulator benchmark (issue 2): Shoal's SWIM + Lifeguard core on the deterministic
 * simulator, for several cluster sizes. Per size it measures
 *   1. joins: simulated time and protocol rounds until every node sees every node alive
 *      (all nodes start together and join through one seed);
 *   2. steady state with nothing to disseminate: messages and bytes sent per member per
 *      second, by message type, over a 60 s simulated window — and the simulator's own speed
 *      (simulated seconds per wall second) over that window;
 *   3. crash detection: when each live member marks a crashed one failed (first, p50, p99,
 *      max), against the bounds derived from the config (libs/sim/src/bounds.ts).
 * Prints a table, writes tools/bench/results/sim-<date>.json and rewrites the section
 * "## Simulator (issue 2)" of docs/BENCHMARKS.md. Progress goes to stderr.
 *
 * Run: npx nx run sim:bench            (sizes 10, 100, 1000; 5000 too if it should fit)
 *      npx nx run sim:bench --args="--sizes=10,100 --seed=7 --no-docs"
 *      npx nx run sim:bench --args="--docs-from=tools/bench/results/sim-2026-11-27.json"
 *        (no run: the docs section and its pictures from a saved results file)
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MESSAGE_TYPES, pushPullIntervalFor, type MessageType } from '@shoal/core';
import { DetectionWatch, converged, detectionBound, diffTraffic, formatTable, SimCluster } from '@shoal/sim';
import { BenchOptions } from '../lib/args.js';
import { simCharts, writeCharts } from '../lib/charts.js';
import { findRoot, writeDocsSection } from '../lib/docs.js';
import { runMain, writeResults } from '../lib/run.js';

const root = findRoot();
const BUDGET_MS = 10 * 60_000; // the whole run should fit in ten minutes
/** Simulated time the speed is measured over (the "1,000 nodes × 60 s" figure). */
const SPEED_WINDOW_MS = 60_000;

interface Args {
  sizes: number[] | undefined;
  seed: number;
  docs: boolean;
  docsFrom: string | undefined;
}

function parseArgs(argv: readonly string[]): Args {
  const o = new BenchOptions('bench-sim', argv, { sizes: 'string', seed: 'string', 'no-docs': 'boolean', 'docs-from': 'string' });
  let sizes: number[] | undefined;
  if (o.has('sizes')) {
    sizes = o.list('sizes', []).map(Number);
    if (sizes.some((s) => !Number.isInteger(s) || s < 2 || s > 20_000)) o.fail(`--sizes must be integers in [2, 20000], got ${o.str('sizes')}`);
  }
  return { sizes, seed: o.int('seed', 0, 0xffffffff, 2026), docs: !o.flag('no-docs'), docsFrom: o.has('docs-from') ? o.str('docs-from') : undefined };
}

const t0 = performance.now();
function progress(msg: string): void {
  process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
}

interface PerType {
  msgsPerMemberPerSec: number;
  bytesPerMemberPerSec: number;
}

interface SizeResult {
  n: number;
  seed: number;
  join: { converged: boolean; simMs: number; rounds: number; wallMs: number; deadlineMs: number };
  steady: {
    windowMs: number;
    msgsPerMemberPerSec: number;
    bytesPerMemberPerSec: number;
    msgsPerMemberPerProbeInterval: number;
    /** ping + ack + ping-req + nack */
    probeMsgsPerMemberPerProbeInterval: number;
    bytesPerMemberPerSecOverLog2n: number;
    bytesPerMemberPerSecWithoutPushPull: number;
    /** The simulator's speed is timed over the first speedWindowMs of the window. */
    speedWindowMs: number;
    byType: Record<MessageType, PerType>;
    pushPullIntervalMs: number;
    wallMs: number;
    simSecondsPerWallSecond: number;
  };
  detection: {
    victim: string;
    detectedByAll: boolean;
    missing: number;
    firstSuspectedMs?: number;
    firstMs?: number;
    p50Ms?: number;
    p99Ms?: number;
    maxMs?: number;
    expectedMs: number;
    boundWithConfirmationsMs: number;
    boundWithoutConfirmationsMs: number;
    wallMs: number;
  };
  falseFailures: number;
  messagesSent: number;
  heapUsedMiB: number;
  totalWallMs: number;
}

function runSize(n: number, seed: number): SizeResult {
  const start = performance.now();
  const c = new SimCluster({ seed, size: n, preset: 'lan', recordEvents: false, checkFalseFailures: false });
  let falseFailures = 0;
  c.onEvent((e, cl) => {
    const m = e.event.member;
    if (e.event.type === 'failed' && m.id !== e.observer && !cl.failureExcused(m.id, e.observer, m.incarnation, e.time)) falseFailures++;
  });
  const checkEvery = n >= 1000 ? 1000 : n >= 100 ? 250 : 50;

  // 1. joins
  progress(`n=${n}: ${n} nodes join through one seed …`);
  let w = performance.now();
  c.startAll();
  const joinDeadline = 1.5 * pushPullIntervalFor(c.config, n) + 60_000;
  const ok = c.runUntil(converged, joinDeadline, checkEvery);
  const join = { converged: ok, simMs: c.now, rounds: c.rounds, wallMs: performance.now() - w, deadlineMs: joinDeadline };
  progress(`n=${n}: ${ok ? 'converged' : 'NOT converged'} after ${(c.now / 1000).toFixed(2)} simulated s (${c.rounds.toFixed(1)} rounds), wall ${(join.wallMs / 1000).toFixed(1)} s`);

  // 2. steady state: first let the join broadcasts drain
  const queued = (): number => c.liveIds().reduce((s, id) => s + (c.node(id) as unknown as { queuedBroadcasts(): number }).queuedBroadcasts(), 0);
  c.runUntil(() => queued() === 0, 60_000, 1000);
  // The traffic window covers at least one push-pull interval (its share is otherwise sampled badly).
  const windowMs = Math.max(SPEED_WINDOW_MS, pushPullIntervalFor(c.config, n));
  progress(`n=${n}: broadcast queues drained at t=${(c.now / 1000).toFixed(1)} s; measuring a ${windowMs / 1000} s steady window …`);
  const before = c.totalTraffic().sent;
  w = performance.now();
  c.runFor(SPEED_WINDOW_MS);
  const wallSteady = performance.now() - w;
  c.runFor(windowMs - SPEED_WINDOW_MS);
  const d = diffTraffic(c.totalTraffic().sent, before);
  const secs = windowMs / 1000;
  const T = c.config.probeIntervalMs;
  const perType = {} as Record<MessageType, PerType>;
  for (const t of MESSAGE_TYPES) perType[t] = { msgsPerMemberPerSec: d.byType[t].messages / n / secs, bytesPerMemberPerSec: d.byType[t].bytes / n / secs };
  const probeMsgs = d.byType.ping.messages + d.byType.ack.messages + d.byType['ping-req'].messages + d.byType.nack.messages;
  const steady = {
    windowMs,
    msgsPerMemberPerSec: d.messages / n / secs,
    bytesPerMemberPerSec: d.bytes / n / secs,
    msgsPerMemberPerProbeInterval: (d.messages / n / windowMs) * T,
    probeMsgsPerMemberPerProbeInterval: (probeMsgs / n / windowMs) * T,
    bytesPerMemberPerSecWithoutPushPull: (d.bytes - d.byType['push-pull'].bytes) / n / secs,
    bytesPerMemberPerSecOverLog2n: d.bytes / n / secs / Math.log2(n),
    byType: perType,
    pushPullIntervalMs: pushPullIntervalFor(c.config, n),
    wallMs: wallSteady,
    speedWindowMs: SPEED_WINDOW_MS,
    simSecondsPerWallSecond: SPEED_WINDOW_MS / wallSteady,
  };
  progress(
    `n=${n}: steady ${steady.msgsPerMemberPerSec.toFixed(2)} msgs/member/s, ${steady.bytesPerMemberPerSec.toFixed(0)} B/member/s; ` +
      `${n} nodes × ${SPEED_WINDOW_MS / 1000} simulated s took ${(wallSteady / 1000).toFixed(1)} wall s (${steady.simSecondsPerWallSecond.toFixed(1)} sim-s/wall-s)`,
  );

  // 3. crash detection
  const victim = c.ids()[Math.floor(n / 2)]!;
  const bound = detectionBound(c.config, n, { maxLatencyMs: c.network.maxLatencyMs });
  progress(`n=${n}: crashing ${victim}; bound ${(bound.withConfirmationsMs / 1000).toFixed(1)} s with confirmations, ${(bound.withoutConfirmationsMs / 1000).toFixed(1)} s without …`);
  c.crash(victim);
  const watch = new DetectionWatch(c, victim);
  w = performance.now();
  const all = c.runUntil(() => watch.allDetected(), bound.withoutConfirmationsMs + 30_000, n >= 1000 ? 250 : 100);
  const s = watch.summary();
  const detection = {
    victim,
    detectedByAll: all,
    missing: s.missing.length,
    firstSuspectedMs: watch.firstSuspectedAt() === undefined ? undefined : watch.firstSuspectedAt()! - watch.since,
    firstMs: s.first,
    p50Ms: s.p50,
    p99Ms: s.p99,
    maxMs: s.max,
    expectedMs: bound.expectedMs,
    boundWithConfirmationsMs: bound.withConfirmationsMs,
    boundWithoutConfirmationsMs: bound.withoutConfirmationsMs,
    wallMs: performance.now() - w,
  };
  progress(
    `n=${n}: first suspected after ${fmtS(detection.firstSuspectedMs)} s; failed: first ${fmtS(s.first)} p50 ${fmtS(s.p50)} p99 ${fmtS(s.p99)} max ${fmtS(s.max)} s` +
      (all ? '' : ` — ${s.missing.length} members never detected it`),
  );
  const result: SizeResult = {
    n,
    seed,
    join,
    steady,
    detection,
    falseFailures,
    messagesSent: c.totalTraffic().sent.messages,
    heapUsedMiB: process.memoryUsage().heapUsed / 1048576,
    totalWallMs: performance.now() - start,
  };
  if (c.anomalyCount) progress(`n=${n}: ${c.anomalyCount} anomalies, first: ${c.anomalies[0]}`);
  return result;
}

function fmtS(ms: number | undefined): string {
  return ms === undefined ? '-' : (ms / 1000).toFixed(2);
}

function table(results: readonly SizeResult[]): string {
  return formatTable(
    [
      'n',
      'join s',
      'rounds',
      'suspect s',
      'detect first/p50/p99/max s',
      'bound conf/no-conf s',
      'target 1.2×expected s',
      'met',
      'msgs/member/s',
      'msgs/member/T',
      'probe msgs/member/T',
      'B/member/s',
      'B/member/s/log2 n',
      'push-pull B/member/s',
      'other B/member/s',
      'sim-s/wall-s',
      'false fail',
      'wall s',
    ],
    results.map((r) => [
      r.n,
      r.join.converged ? Number((r.join.simMs / 1000).toFixed(2)) : `>${(r.join.deadlineMs / 1000).toFixed(0)}`,
      Number(r.join.rounds.toFixed(1)),
      fmtS(r.detection.firstSuspectedMs),
      `${fmtS(r.detection.firstMs)}/${fmtS(r.detection.p50Ms)}/${fmtS(r.detection.p99Ms)}/${fmtS(r.detection.maxMs)}${r.detection.detectedByAll ? '' : ` (${r.detection.missing} missing)`}`,
      `${fmtS(r.detection.boundWithConfirmationsMs)}/${fmtS(r.detection.boundWithoutConfirmationsMs)}`,
      fmtS(1.2 * r.detection.expectedMs),
      r.detection.detectedByAll && r.detection.maxMs !== undefined && r.detection.maxMs <= 1.2 * r.detection.expectedMs ? 'yes' : 'NO',
      Number(r.steady.msgsPerMemberPerSec.toFixed(2)),
      Number(r.steady.msgsPerMemberPerProbeInterval.toFixed(2)),
      Number(r.steady.probeMsgsPerMemberPerProbeInterval.toFixed(2)),
      Math.round(r.steady.bytesPerMemberPerSec),
      Number(r.steady.bytesPerMemberPerSecOverLog2n.toFixed(1)),
      Math.round(r.steady.byType['push-pull'].bytesPerMemberPerSec),
      Math.round(r.steady.bytesPerMemberPerSecWithoutPushPull),
      Number(r.steady.simSecondsPerWallSecond.toFixed(1)),
      r.falseFailures,
      Number((r.totalWallMs / 1000).toFixed(1)),
    ]),
  );
}

const SECTION = '## Simulator (issue 2)';

/** What a results file holds (and --docs-from reads back). */
interface SimReport {
  benchmark: 'sim';
  date: string;
  node: string;
  preset: 'lan';
  seed: number;
  command?: string;
  results: SizeResult[];
  notes: string[];
}

async function updateDocs(results: readonly SizeResult[], notes: readonly string[], jsonRel: string, command: string, date: string): Promise<void> {
  const pictures = await writeCharts(root, simCharts({ date, results }));
  const r1000 = results.find((r) => r.n === 1000);
  const body = [
    SECTION,
    '',
    `The protocol core (SwimNode, 'lan' preset: probe interval T = 1 s, probe timeout 0.5 s, k = 3, gossip 200 ms × 3, push-pull 30 s stretched above 32 members) on the deterministic simulator (libs/sim): one process, one fake clock, a network with 1-5 ms latency and no loss, every message encoded and decoded by the wire codec. All nodes start at once and join through one seed. Measured ${date} on the shared 2-core machine, seed ${results[0]?.seed}.`,
    '',
    `Command: \`${command}\` (raw figures: \`${jsonRel}\`).`,
    '',
    '```',
    table(results),
    '```',
    '',
    pictures,
    '',
    '- join s / rounds: simulated time (and probe periods) until every node sees every other alive with the same incarnation and tags.',
    '- detect: after one member crashes in steady state, when each live member marks it failed; bound conf/no-conf: the derived bound with Lifeguard confirmations (suspicion at its minimum) and without (suspicion at suspicionMaxMult × minimum); see libs/sim/src/bounds.ts. target: the bound the issue sets, 1.2 × (expected first detection + probe round + minimum suspicion + dissemination); met: the detection by the last member (max) is within it.',
    '- suspect s: when the first member suspected the crashed one.',
    '- msgs/member/s, B/member/s: everything a member sends in a steady window with nothing to disseminate (60 s, or one push-pull interval when longer); msgs/member/T is the same per probe interval (target about 2: one ping, one ack); probe msgs counts ping, ack, ping-req and nack only. push-pull B/member/s: the full-state anti-entropy share (its interval stretches in proportion to n above 32 members, so this share stays flat); other B/member/s: everything else (probes, gossip).',
    `- sim-s/wall-s: simulated seconds per wall second over the first 60 s of the steady window${r1000 ? `; 1,000 nodes × 60 simulated s took ${(r1000.steady.wallMs / 1000).toFixed(1)} wall s (target < 60 s)` : ''}.`,
    '- false fail: live members marked failed by anyone (should be 0).',
    ...notes.map((note) => `- ${note}`),
    '',
  ].join('\n');
  writeDocsSection(root, SECTION, body);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.docsFrom) {
    const saved = JSON.parse(readFileSync(args.docsFrom, 'utf8')) as SimReport;
    process.stdout.write(table(saved.results) + '\n');
    await updateDocs(saved.results, saved.notes, path.relative(root, path.resolve(args.docsFrom)), saved.command ?? 'npx nx run sim:bench', saved.date);
    progress(`updated docs/BENCHMARKS.md from ${args.docsFrom}`);
    return;
  }
  const sizes = args.sizes ?? [10, 100, 1000];
  const auto5000 = args.sizes === undefined;
  const results: SizeResult[] = [];
  const notes: string[] = [];
  for (const n of sizes) results.push(runSize(n, args.seed));
  if (auto5000) {
    // Work per simulated second grows about as n² (every member's table and probe work
    // grows with n); run 5000 only if that estimate fits the ten-minute budget.
    const r = results.find((x) => x.n === 1000)!;
    const estimate = r.totalWallMs * 25;
    const left = BUDGET_MS - (performance.now() - t0);
    if (estimate < left) results.push(runSize(5000, args.seed));
    else
      notes.push(
        `n=5000 skipped: estimated ${(estimate / 60_000).toFixed(0)} min (the n=1000 run took ${(r.totalWallMs / 1000).toFixed(0)} s, and work per simulated second grows about as n²), over the 10 min budget. At n=1000 the join storm costs most: ${(r.join.wallMs / 1000).toFixed(0)} wall s for ${(r.join.simMs / 1000).toFixed(0)} simulated s.`,
      );
    if (notes.length) progress(notes[notes.length - 1]!);
  }
  const out = table(results);
  process.stdout.write(out + '\n');
  const date = new Date().toISOString().slice(0, 10);
  const jsonName = `sim-${date}.json`;
  const jsonRel = `tools/bench/results/${jsonName}`;
  const command = args.sizes || args.seed !== 2026 ? `npx nx run sim:bench --args="${process.argv.slice(2).join(' ')}"` : 'npx nx run sim:bench';
  const report: SimReport = { benchmark: 'sim', date, node: process.version, preset: 'lan', seed: args.seed, command, results, notes };
  writeResults(root, jsonName, report);
  progress(`wrote ${jsonRel}`);
  if (args.docs) {
    await updateDocs(results, notes, jsonRel, command, date);
    progress('updated docs/BENCHMARKS.md');
  }
  progress(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

runMain('bench-sim', main, () => {});
