/**
 * Spawning, talking to and cleaning up benchmark children. Every child ever forked is
 * tracked here; `killAll()` runs on normal exit, on SIGINT/SIGTERM and on a fatal error,
 * so no child outlives the benchmark (children also exit by themselves when the IPC
 * channel to the parent closes).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ChildSample, ParentMessage } from './protocol.js';

const CHILD_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'child.js');
const MAX_FORWARDED_STDERR_LINES = 50;

type Body = ParentMessage extends infer M ? (M extends unknown ? Omit<M, 'seq'> : never) : never;

interface Reply {
  type: 'ok' | 'error' | 'ready';
  seq?: number;
  error?: string;
  [k: string]: unknown;
}

const live = new Set<BenchChild>();

export class BenchChild {
  readonly proc: ChildProcess;
  private seq = 0;
  private readonly waiters = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly readyP: Promise<void>;
  private readonly exitP: Promise<number | null>;
  private stderrLines = 0;

  /** Messages from the child: Node's IPC channel, or JSON lines on stdout for a foreign program. */
  private readonly inbox: EventEmitter;
  private readonly post: (msg: unknown) => void;
  private readonly connected: () => boolean;

  /**
   * A Node child (child.ts, forked with an IPC channel), or with `program` another
   * executable that speaks the same messages as one JSON object per line on stdin/stdout
   * (the memberlist reference: ../memberlist/main.go).
   */
  constructor(
    readonly label: string,
    opts: { gc?: boolean; maxLifetimeMs: number; nodeFlags?: readonly string[]; env?: Readonly<Record<string, string>>; program?: string },
  ) {
    const env = { ...process.env, ...opts.env, SHOAL_BENCH_CHILD_MAX_MS: String(opts.maxLifetimeMs) };
    if (opts.program) {
      this.proc = spawn(opts.program, [], { stdio: ['pipe', 'pipe', 'pipe'], env });
      const lines = new EventEmitter();
      readline.createInterface({ input: this.proc.stdout! }).on('line', (line) => {
        let m: unknown;
        try {
          m = JSON.parse(line);
        } catch {
          process.stderr.write(`  [${label}] not a message: ${line.slice(0, 200)}\n`);
          return;
        }
        lines.emit('message', m);
      });
      this.proc.stdin!.on('error', () => {}); // a write after the child died surfaces through exit
      this.inbox = lines;
      this.post = (msg) => this.proc.stdin!.write(`${JSON.stringify(msg)}\n`);
      this.connected = () => this.proc.stdin!.writable;
    } else {
      this.proc = fork(CHILD_JS, [], {
        execArgv: [...(opts.gc ? ['--expose-gc'] : []), ...(opts.nodeFlags ?? [])],
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        env,
      });
      this.inbox = this.proc;
      this.post = (msg) => this.proc.send(msg as object);
      this.connected = () => this.proc.connected;
    }
    live.add(this);
    let buf = '';
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stderr!.on('data', (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.trim() && this.stderrLines++ < MAX_FORWARDED_STDERR_LINES) process.stderr.write(`  [${label}] ${line}\n`);
      }
    });
    this.readyP = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${label}: not ready within 60 s`)), 60_000);
      this.inbox.once('message', (m: Reply) => {
        clearTimeout(t);
        if (m.type === 'ready') resolve();
        else reject(new Error(`${label}: unexpected first message ${JSON.stringify(m)}`));
      });
    });
    this.readyP.catch(() => {});
    this.exitP = new Promise((resolve) => {
      this.proc.once('exit', (code) => {
        live.delete(this);
        for (const [, w] of this.waiters) {
          clearTimeout(w.timer);
          w.reject(new Error(`${label}: exited (code ${code}) while waiting for a reply`));
        }
        this.waiters.clear();
        resolve(code);
      });
    });
    this.inbox.on('message', (m: Reply) => {
      if (m.seq === undefined) return;
      const w = this.waiters.get(m.seq);
      if (!w) return;
      this.waiters.delete(m.seq);
      clearTimeout(w.timer);
      if (m.type === 'error') w.reject(new Error(`${label}: ${m.error}`));
      else w.resolve(m);
    });
    this.proc.on('error', () => {}); // surfaced through exit / request timeouts
  }

  ready(): Promise<void> {
    return this.readyP;
  }

  get exited(): boolean {
    return this.proc.exitCode !== null || this.proc.signalCode !== null;
  }

  request(body: Body, timeoutMs: number): Promise<Reply> {
    if (this.exited || !this.connected()) return Promise.reject(new Error(`${this.label}: not running`));
    const seq = ++this.seq;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(seq);
        reject(new Error(`${this.label}: no reply to ${body.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(seq, { resolve, reject, timer });
      this.post({ ...body, seq });
    });
  }

  async sample(gc = false): Promise<ChildSample> {
    const r = await this.request({ type: 'sample', gc }, 10_000);
    return r['sample'] as ChildSample;
  }

  /** Asks the child to stop its nodes and exit; SIGKILL if it has not exited within timeoutMs. */
  async stop(timeoutMs: number): Promise<void> {
    if (this.exited) return;
    const timer = setTimeout(() => this.kill(), timeoutMs);
    try {
      await this.request({ type: 'stop' }, timeoutMs).catch(() => this.kill());
      await this.exitP;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    if (!this.exited) this.proc.kill('SIGKILL');
  }
}

/** Kills every child still running (synchronous: safe in an 'exit' handler). */
export function killAll(): void {
  for (const c of live) c.kill();
}

export async function stopAll(children: readonly BenchChild[], timeoutMs: number): Promise<void> {
  await Promise.allSettled(children.map((c) => c.stop(timeoutMs)));
}

let installed = false;
/** Kills all children when the parent exits or is interrupted. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench-transport: ${sig}, killing ${live.size} children\n`);
      killAll();
      process.exit(130);
    });
  }
}
