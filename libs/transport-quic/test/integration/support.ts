/**
 * Shared pieces of the integration tests: a cluster CA made in the test, fast protocol
 * settings, in-process nodes and nodes in child processes (node-child.ts), waiting on
 * conditions with deadlines, and cleanup that always runs.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { retransmitLimit, suspicionMinMs, type Member, type MemberEvent, type PresetName, type ShoalConfig, type Tags } from '@shoal/core';
import { pino } from 'pino';
import { createClusterCa, issueNodeCertificate, type CertificatePair } from '../../src/tls/ca.js';
import { NodeRuntime, type NodeRuntimeOptions } from '../../src/node-runtime.js';

export const CLUSTER = 'itest';

/**
 * Fast settings for tests on a busy, shared 2-core machine: a 300 ms protocol period keeps
 * each test within seconds; a 150 ms probe timeout leaves room for event-loop lag and for
 * a first dial (a QUIC handshake) inside the timeout.
 */
export const FAST: Partial<ShoalConfig> = {
  probeIntervalMs: 300,
  probeTimeoutMs: 150,
  suspicionMult: 2,
  suspicionMaxMult: 2,
  gossipIntervalMs: 50,
  pushPullIntervalMs: 5000,
  reconnectIntervalMs: 1000,
  gossipToTheDeadMs: 5000,
  joinRetryBaseMs: 200,
  joinRetryMaxMs: 1000,
  leaveTimeoutMs: 1000,
};

/** Pool settings that make dead peers cost little: short dials, short backoff. */
export const FAST_POOL: NonNullable<NodeRuntimeOptions['pool']> = {
  dialTimeoutMs: 1000,
  acquireTimeoutMs: 1000,
  backoffBaseMs: 200,
  backoffMaxMs: 2000,
};

export type Tls = NodeRuntimeOptions['tls'];

export interface Ca {
  pair: CertificatePair;
  tls(nodeId: string): Promise<Tls>;
}

export async function makeCa(): Promise<Ca> {
  const pair = await createClusterCa();
  return {
    pair,
    async tls(nodeId) {
      const cert = await issueNodeCertificate(pair, { nodeId });
      return { caPem: pair.certPem, certPem: cert.certPem, keyPem: cert.keyPem };
    },
  };
}

const silent = pino({ level: 'silent' });

/** Starts an in-process node on 127.0.0.1:0 with FAST settings (overridable). */
export async function startNode(ca: Ca, id: string, opts: Partial<NodeRuntimeOptions> = {}): Promise<NodeRuntime> {
  return NodeRuntime.start({
    id,
    cluster: CLUSTER,
    preset: 'local',
    tls: opts.tls ?? (await ca.tls(id)),
    logger: silent,
    pool: FAST_POOL,
    ...opts,
    config: { ...FAST, ...opts.config },
  });
}

// ─── bounds ───────────────────────────────────────────────────────────────────────────

/** Added to computed bounds for timers firing late on a busy shared machine. */
export const SCHEDULING_SLACK_MS = 2000;

/**
 * Longest time after a member crashes until every live observer marks it failed, in a
 * cluster of n live members (the crashed one included), from the configuration:
 *
 *   bound = 2·(n−1)·probeIntervalMs                     the first observer probes it (randomized
 *                                                        round robin: at most 2 rounds apart; the
 *                                                        probe ends inside the last interval)
 *         + S                                            its suspicion timeout, unconfirmed:
 *             S = suspicionMaxMult·min if Lifeguard expects k = round(suspicionMult) − 2 > 0
 *                 confirmations and n − 2 ≥ k, else min;
 *             min = suspicionMult·max(1, log10 n)·probeIntervalMs
 *         + retransmitMult·⌈log10(n+1)⌉·gossipIntervalMs the "failed" update spreads (each
 *                                                        gossip round reaches gossipNodes members)
 *         + SCHEDULING_SLACK_MS
 */
export function failureDetectionBoundMs(c: ShoalConfig, n: number): number {
  const k = Math.max(0, Math.round(c.suspicionMult) - 2);
  const min = suspicionMinMs(c, n);
  const unconfirmed = k > 0 && n - 2 >= k ? c.suspicionMaxMult * min : min;
  return 2 * (n - 1) * c.probeIntervalMs + unconfirmed + retransmitLimit(c, n) * c.gossipIntervalMs + SCHEDULING_SLACK_MS;
}

// ─── waiting ──────────────────────────────────────────────────────────────────────────

/** Resolves when cond() holds (polled every 10 ms); rejects after timeoutMs naming what. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string, describe?: () => unknown): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await cond()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) {
      const extra = describe ? ` — ${JSON.stringify(describe())}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${extra}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves with p, or rejects if it has not settled within ms (a deadline, not a sleep). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A view of one node's member table: id → state. */
export function states(members: readonly Member[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of members) out[m.id] = m.state;
  return out;
}

/** Every node sees exactly `ids`, all alive. */
export function allAlive(nodes: readonly NodeRuntime[], ids: readonly string[]): boolean {
  return nodes.every((n) => {
    const ms = n.members();
    return ms.length === ids.length && ids.every((id) => n.member(id)?.state === 'alive');
  });
}

/** Records member events of in-process nodes, per observer. */
export class EventLog {
  readonly events: { observer: string; event: MemberEvent }[] = [];
  watch(node: NodeRuntime): void {
    node.on('member', (event) => this.events.push({ observer: node.id, event }));
  }
  of(observer: string, memberId: string, type?: MemberEvent['type']): MemberEvent[] {
    return this.events.filter((e) => e.observer === observer && e.event.member.id === memberId && (!type || e.event.type === type)).map((e) => e.event);
  }
}

// ─── nodes in child processes ─────────────────────────────────────────────────────────

/** What node-child.ts reads from SHOAL_CHILD. */
export interface ChildConfig {
  id: string;
  cluster: string;
  bindPort?: number;
  seeds?: string[];
  tags?: Tags;
  preset?: PresetName;
  config?: Partial<ShoalConfig>;
  pool?: NodeRuntimeOptions['pool'];
  endpoint?: NodeRuntimeOptions['endpoint'];
  tls: Tls;
  logLevel?: 'silent' | 'debug' | 'info' | 'warn';
}

export interface ChildLine {
  ev: string;
  [k: string]: unknown;
}

const here = import.meta.dirname;
const projectDir = path.resolve(here, '../..');

/** A node running node-child.ts in its own process. */
export class ChildNode {
  readonly lines: ChildLine[] = [];
  stderr = '';
  address = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null; at: number } | undefined;
  private readonly proc: ChildProcessWithoutNullStreams;
  private seq = 0;
  private paused = false;

  private constructor(readonly config: ChildConfig) {
    this.proc = spawn(process.execPath, ['--import', path.join(here, 'register.mjs'), path.join(here, 'node-child.ts')], {
      cwd: projectDir,
      env: { ...process.env, SHOAL_CHILD: JSON.stringify(config), NODE_OPTIONS: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.proc.stdin.on('error', () => undefined); // writes after the child died
    this.proc.stderr.on('data', (d: Buffer) => {
      if (this.stderr.length < 20_000) this.stderr += d.toString();
    });
    createInterface({ input: this.proc.stdout }).on('line', (l) => {
      try {
        this.lines.push(JSON.parse(l) as ChildLine);
      } catch {
        this.lines.push({ ev: 'text', text: l });
      }
    });
    this.exited = new Promise((resolve) =>
      this.proc.on('exit', (code, signal) => {
        this.exitInfo = { code, signal, at: Date.now() };
        resolve(this.exitInfo);
      }),
    );
  }

  /** Spawns the child and waits for its "started" line. */
  static async start(config: ChildConfig, timeoutMs = 15_000): Promise<ChildNode> {
    const child = new ChildNode(config);
    children.add(child);
    const started = await child.waitFor((l) => l.ev === 'started' || l.ev === 'fatal', timeoutMs, `${config.id} to start`);
    if (started.ev === 'fatal') throw new Error(`${config.id} failed to start: ${String(started['message'])}\n${child.stderr}`);
    child.address = started['address'] as string;
    return child;
  }

  get id(): string {
    return this.config.id;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get port(): number {
    return Number(this.address.slice(this.address.lastIndexOf(':') + 1));
  }

  get hasExited(): boolean {
    return this.exitInfo !== undefined;
  }

  /** The first line (from index `from`) matching pred, waiting up to timeoutMs. */
  async waitFor(pred: (l: ChildLine) => boolean, timeoutMs: number, what: string, from = 0): Promise<ChildLine> {
    let found: ChildLine | undefined;
    await until(
      () => {
        found = this.lines.slice(from).find(pred);
        return found !== undefined || (this.hasExited && !this.lines.slice(from).some(pred));
      },
      timeoutMs,
      `${this.id}: ${what}`,
      () => ({ stderr: this.stderr.slice(-2000) }),
    );
    if (!found) throw new Error(`${this.id} exited before ${what}: ${JSON.stringify(this.exitInfo)} ${this.stderr.slice(-2000)}`);
    return found;
  }

  /** Sends a command and resolves with its reply. */
  async request(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<ChildLine> {
    const seq = ++this.seq;
    const from = this.lines.length;
    this.proc.stdin.write(`${JSON.stringify({ seq, cmd, ...args })}\n`);
    const reply = await this.waitFor((l) => l.ev === 'reply' && l['seq'] === seq, timeoutMs, `reply to ${cmd}`, from);
    if (reply['error']) throw new Error(`${this.id} ${cmd}: ${String(reply['error'])}`);
    return reply;
  }

  async members(): Promise<Member[]> {
    return (await this.request('members'))['members'] as Member[];
  }

  /** Member events this child reported (optionally about one member / of one type). */
  memberEvents(id?: string, type?: string): ChildLine[] {
    return this.lines.filter((l) => l.ev === 'member' && (!id || l['id'] === id) && (!type || l['type'] === type));
  }

  signal(sig: NodeJS.Signals): void {
    if (this.hasExited) return;
    if (sig === 'SIGSTOP') this.paused = true;
    if (sig === 'SIGCONT') this.paused = false;
    this.proc.kill(sig);
  }

  /** Ends the child whatever its state: SIGCONT if paused, then SIGKILL; waits for the exit. */
  async destroy(): Promise<void> {
    if (!this.hasExited) {
      if (this.paused) this.signal('SIGCONT');
      this.proc.kill('SIGKILL');
    }
    await within(this.exited, 5000, `${this.id} exit after SIGKILL`).catch(() => undefined);
    this.proc.stdout.destroy();
    this.proc.stderr.destroy();
    this.proc.stdin.destroy();
  }
}

const children = new Set<ChildNode>();

/** Ends every child process started by ChildNode.start (for afterEach/afterAll). */
export async function destroyChildren(): Promise<void> {
  const all = [...children];
  children.clear();
  await Promise.all(all.map((c) => c.destroy()));
}

/** Stops in-process nodes in parallel (idempotent; failures ignored). */
export async function stopAll(nodes: Iterable<NodeRuntime | undefined>): Promise<void> {
  await Promise.all([...nodes].map((n) => n?.stop().catch(() => undefined)));
}
