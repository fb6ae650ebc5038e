/** Test support: a node process of the built app, its JSON log lines, and waits with deadlines. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export type Line = Record<string, unknown> & { event?: string; member?: string };

export class NodeProc {
  readonly lines: Line[] = [];
  readonly stderr: string[] = [];
  private waiters: { pred: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited = false;
  gossip = '';
  admin = '';

  constructor(
    readonly id: string,
    readonly child: ChildProcess,
  ) {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        return;
      }
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(line)) return true;
        w.resolve(line);
        return false;
      });
    });
    child.stderr!.on('data', (d: Buffer) => this.stderr.push(d.toString()));
    this.exit = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exited = true;
        resolve({ code, signal });
      }),
    );
  }

  /** The first line (already logged or to come) matching `pred`, or a rejection after `ms`. */
  waitFor(pred: (l: Line) => boolean, ms: number, what: string): Promise<Line> {
    const seen = this.lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (l: Line) => (clearTimeout(timer), resolve(l)) };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`${this.id}: no ${what} within ${ms} ms\nstderr: ${this.stderr.join('').slice(-2000)}`));
      }, ms);
      this.waiters.push(w);
    });
  }

  memberEvents(event: string, member: string): Line[] {
    return this.lines.filter((l) => l.event === event && l.member === member);
  }
}

export async function getJson<T>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(3000) });
  return { status: res.status, body: (await res.json()) as T };
}

export async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}


/** Starts `node dist/main.js <args>`; stdout is read as JSON lines. */
export function spawnNode(id: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): NodeProc {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SHOAL_LOG_LEVEL: 'info', ...opts.env } });
  return new NodeProc(id, child);
}
