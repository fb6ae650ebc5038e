/** Run scaffolding shared by the benchmarks: time budget, machine, results file, main. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { round } from './stats.js';

let deadline = Infinity;

/** Starts the time budget that checkBudget() enforces. */
export function startBudget(minutes: number, from = Date.now()): void {
  deadline = from + minutes * 60_000;
}

/** Throws once the budget is spent (called between steps). */
export function checkBudget(what: string): void {
  if (Date.now() > deadline) throw new Error(`time budget exhausted during ${what}`);
}

export interface Machine {
  node: string;
  cpus: number;
  cpuModel: string;
  totalMemGiB: number;
  platform: string;
}

export function machineInfo(): Machine {
  return { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', totalMemGiB: round(os.totalmem() / 1024 ** 3, 1), platform: `${os.platform()} ${os.release()}` };
}

/** How apps/node runs a node process (apps/node/node-flags.json). */
export interface NodeRun {
  nodeFlags: string[];
  env: Record<string, string>;
}

export function readNodeRun(root: string): NodeRun {
  return JSON.parse(readFileSync(path.join(root, 'apps/node/node-flags.json'), 'utf8')) as NodeRun;
}

/** Writes `data` as tools/bench/results/<name> (indented JSON); returns the file's path. */
export function writeResults(root: string, name: string, data: unknown): string {
  const dir = path.join(root, 'tools', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

/** Runs `main`; `killAll` runs when it ends, and a failure is printed and exits 1. */
export function runMain(name: string, main: () => Promise<void>, killAll: () => void): void {
  main().then(
    () => killAll(),
    (e: unknown) => {
      process.stderr.write(`${name} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      killAll();
      process.exit(1);
    },
  );
}
