/**
 * Node-app processes under measurement: spawn `node apps/node/dist/main.js …`, read its
 * JSON log lines from stdout, wait for lines with deadlines, read /proc figures, stop it.
 * Every process ever spawned is tracked; `killAll()` runs on exit, on SIGINT/SIGTERM/SIGHUP
 * and on a fatal error, so no node outlives the benchmark.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { procCpuSeconds, procStatus } from '../lib/procfs.js';
import type { ProbeSnapshot } from './probe.js';

export type Line = Record<string, unknown> & { event?: string; member?: string; time?: number };

/** Most log lines kept per process (the oldest are dropped beyond this). */
export const MAX_LINES = 20_000;
/** Most stderr bytes kept per process (the tail, for error messages). */
export const MAX_STDERR_CHARS = 8_000;

const live = new Set<AppProc>();

export interface SpawnOptions {
  /** Node flags (before the script), e.g. --max-semi-space-size=1 or --import <probe>. */
  nodeFlags?: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export class AppProc {
  readonly child: ChildProcess;
  readonly lines: Line[] = [];
  /** Wall-clock (Date.now()) arrival time of each line in `lines`. */
  readonly arrivals: number[] = [];
  stderrTail = '';
  readonly spawnedAt = Date.now();
  readonly spawnedPerf = performance.now();
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  private waiters: { pred: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];

  constructor(
    readonly label: string,
    script: string,
    args: readonly string[],
    opts: SpawnOptions = {},
  ) {
    this.child = spawn(process.execPath, [...(opts.nodeFlags ?? []), script, ...args], {
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SHOAL_LOG_LEVEL: 'info', ...opts.env },
    });
    live.add(this);
    this.exit = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        live.delete(this);
        resolve({ code, signal, at: Date.now() });
      }),
    );
    this.child.on('error', (e) => {
      this.stderrTail += `\nspawn error: ${e.message}`;
    });
    createInterface({ input: this.child.stdout! }).on('line', (text) => {
      if (!text.startsWith('{')) return;
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        return;
      }
      const at = Date.now();
      this.lines.push(line);
      this.arrivals.push(at);
      if (this.lines.length > MAX_LINES) {
        this.lines.shift();
        this.arrivals.shift();
      }
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(line)) return true;
        w.resolve(line);
        return false;
      });
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-MAX_STDERR_CHARS);
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** The first line (logged already or to come) matching `pred`; rejects after `ms` or when the process exits. */
  waitFor(pred: (l: Line) => boolean, ms: number, what: string): Promise<Line> {
    const seen = this.lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const done = (err?: Error, l?: Line) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((x) => x !== w);
        if (err) reject(err);
        else resolve(l!);
      };
      const w = { pred, resolve: (l: Line) => done(undefined, l) };
      const timer = setTimeout(() => done(new Error(`${this.label}: no ${what} within ${ms} ms\n${this.stderrTail.slice(-1500)}`)), ms);
      this.waiters.push(w);
      void this.exit.then((x) => done(new Error(`${this.label}: exited (code ${x.code}, signal ${x.signal}) before ${what}\n${this.stderrTail.slice(-1500)}`)));
    });
  }

  /** The node.started line (ports, startupMs). */
  started(ms: number): Promise<Line> {
    return this.waitFor((l) => l.event === 'node.started', ms, 'node.started line');
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.exited) this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL if the process has not exited within `ms`. */
  async stop(ms: number): Promise<void> {
    if (this.exited) return;
    this.signal('SIGTERM');
    const t = setTimeout(() => this.signal('SIGKILL'), ms);
    await this.exit;
    clearTimeout(t);
  }

  /** CPU time (user + system) of the process in seconds, from /proc/<pid>/stat. */
  cpuSeconds(): number {
    return procCpuSeconds(this.pid);
  }

  /** VmRSS, VmHWM, RssAnon, RssFile, RssShmem in bytes, from /proc/<pid>/status. */
  status(): Record<string, number> {
    return procStatus(this.pid);
  }
}

/** Asks a process started with the probe preload for a snapshot (SIGUSR2) and reads it. */
export async function readProbe(p: AppProc, file: string, ms = 3000): Promise<ProbeSnapshot> {
  const asked = Date.now();
  p.signal('SIGUSR2');
  const end = asked + ms;
  for (;;) {
    if (existsSync(file)) {
      try {
        const snap = JSON.parse(readFileSync(file, 'utf8')) as ProbeSnapshot;
        if (snap.at >= asked) return snap;
      } catch {
        // being replaced; retry
      }
    }
    if (Date.now() > end) throw new Error(`${p.label}: no probe snapshot within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function getJson<T>(url: string, timeoutMs = 3000): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: (await res.json()) as T };
}

/** Kills every process still running (synchronous: safe in an 'exit' handler). */
export function killAll(): void {
  for (const p of live) p.signal('SIGKILL');
}

export async function stopAll(ps: readonly AppProc[], ms: number): Promise<void> {
  await Promise.allSettled(ps.map((p) => p.stop(ms)));
}

let installed = false;
export function installCleanup(name: string): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\n${name}: ${sig}, killing ${live.size} node processes\n`);
      killAll();
      process.exit(130);
    });
  }
}
