/**
 * Sums the files stage-timer.ts wrote (one per node process) into a table: per stage, the
 * median over processes of the mean time per call, and calls per process.
 *
 *   node tools/bench/transport/dist/transport/stage-report.js /tmp/stages
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { median, round, table } from '../lib/stats.js';
import type { StageTotals } from './stage-timer.js';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: stage-report <directory of stages-<pid>.json files>\n');
  process.exit(2);
}
const files = readdirSync(dir).filter((f) => /^stages-\d+\.json$/.test(f));
const perStage = new Map<string, { usPerCall: number[]; calls: number[] }>();
for (const f of files) {
  const totals = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as StageTotals;
  for (const [stage, t] of Object.entries(totals)) {
    if (t.calls === 0) continue;
    const s = perStage.get(stage) ?? { usPerCall: [], calls: [] };
    s.usPerCall.push(t.us / t.calls);
    s.calls.push(t.calls);
    perStage.set(stage, s);
  }
}
process.stdout.write(`${files.length} processes\n`);
process.stdout.write(
  `${table(
    ['stage', 'µs per call (median over processes)', 'calls per process (median)'],
    [...perStage].map(([stage, s]) => [stage, round(median(s.usPerCall), 1), round(median(s.calls), 0)]),
  )}\n`,
);
