/**
 * Seeds: DNS names are resolved before their addresses go to the runtime's join, and
 * again on every retry, so a seed that comes up later (a StatefulSet pod, a container)
 * or moves to another address is still found.
 *
 * The SeedJoiner hands the resolved addresses to `join()`, then checks every retry
 * period (exponential backoff, joinRetryBaseMs to joinRetryMaxMs of the protocol
 * config): while the node has not joined, it resolves and joins anew. Once joined, a
 * node left alone resolves the seeds at the slow pace and joins again only when they
 * resolve to other addresses than before (a restarted pod); otherwise the runtime's own
 * reconnect rounds keep trying the addresses it has.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { formatHostPort, type HostPort } from './address.js';

export type LookupFn = (host: string) => Promise<{ address: string; family: number }[]>;

/** Most addresses one seed name may contribute (a headless Service can return many). */
export const MAX_ADDRESSES_PER_SEED = 16;
/** Longest a lookup of one seed may take before it counts as failed for this round. */
export const SEED_LOOKUP_TIMEOUT_MS = 3000;

export const defaultLookup: LookupFn = (host) => dnsLookup(host, { all: true, verbatim: false });

export interface SeedResolution {
  addresses: string[];
  failures: { seed: string; error: string }[];
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Resolves every seed (IP literals pass through); IPv4 first, duplicates dropped. Never throws. */
export async function resolveSeeds(seeds: readonly HostPort[], lookup: LookupFn = defaultLookup, timeoutMs = SEED_LOOKUP_TIMEOUT_MS): Promise<SeedResolution> {
  const out = new Set<string>();
  const failures: SeedResolution['failures'] = [];
  await Promise.all(
    seeds.map(async (seed) => {
      if (isIP(seed.host)) {
        out.add(formatHostPort(seed.host, seed.port));
        return;
      }
      try {
        const found = await withTimeout(lookup(seed.host), timeoutMs, `lookup of ${seed.host}`);
        const sorted = [...found].sort((a, b) => a.family - b.family).slice(0, MAX_ADDRESSES_PER_SEED);
        if (!sorted.length) throw new Error('no addresses');
        for (const a of sorted) out.add(formatHostPort(a.address, seed.port));
      } catch (e) {
        failures.push({ seed: formatHostPort(seed.host, seed.port), error: (e as Error).message });
      }
    }),
  );
  return { addresses: [...out].sort(), failures };
}

/** What the joiner needs of the runtime. */
export interface JoinTarget {
  readonly address: string;
  join(seeds: readonly string[]): void;
  /** Joined through a seed (or had none) and not leaving. */
  isReady(): boolean;
  running: boolean;
  /** Members other than this node that are alive or suspect. */
  peerCount(): number;
}

export interface SeedJoinerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface SeedJoinerOptions {
  seeds: readonly HostPort[];
  retryBaseMs: number;
  retryMaxMs: number;
  lookup?: LookupFn;
  lookupTimeoutMs?: number;
  log?: SeedJoinerLog;
}

export class SeedJoiner {
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private stopped = false;
  private handedOff = false;
  private busy = false;
  /** Rounds run (each resolves the seeds and joins through them). */
  rounds = 0;
  lastAddresses: string[] = [];

  constructor(
    private readonly target: JoinTarget,
    private readonly opts: SeedJoinerOptions,
  ) {}

  /** True when no seeds were given, or once the node has joined through them. */
  get satisfied(): boolean {
    if (this.opts.seeds.length === 0) return true;
    return this.handedOff && this.target.isReady();
  }

  start(): void {
    if (this.opts.seeds.length === 0 || this.stopped) return;
    void this.round();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.stopped) return;
    const delay = Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    this.timer = setTimeout(() => void this.round(), delay * (0.75 + 0.25 * Math.random()));
    this.timer.unref?.();
  }

  /** 'join': not joined yet; 'refresh': joined but alone (join again only if the seeds moved); 'none'. */
  private need(): 'join' | 'refresh' | 'none' {
    if (!this.handedOff || !this.target.isReady()) return 'join';
    return this.target.peerCount() === 0 ? 'refresh' : 'none';
  }

  private async round(): Promise<void> {
    this.timer = undefined;
    if (this.stopped || this.busy || !this.target.running) return;
    this.busy = true;
    try {
      const need = this.need();
      if (need === 'none') {
        this.attempt = 0; // joined and not alone: check again after the base period
        return;
      }
      if (need === 'refresh') this.attempt = Math.max(this.attempt, 30); // alone: look again at the slow pace
      this.rounds++;
      const r = await resolveSeeds(this.opts.seeds, this.opts.lookup, this.opts.lookupTimeoutMs);
      if (this.stopped || !this.target.running) return;
      for (const f of r.failures) this.opts.log?.warn({ seed: f.seed, err: f.error, attempt: this.rounds }, 'seed did not resolve');
      const others = r.addresses.filter((a) => a !== this.target.address);
      if (r.addresses.length === 0) return; // nothing to join yet: retry later
      // Joined but alone: the runtime keeps trying the seeds it has; join again only if they moved.
      if (need === 'refresh' && (others.length === 0 || others.join() === this.lastAddresses.join())) return;
      if (others.join() !== this.lastAddresses.join()) this.opts.log?.info({ seeds: others }, 'joining through seeds');
      else this.opts.log?.debug({ seeds: others, attempt: this.rounds }, 'joining through seeds again');
      this.lastAddresses = others;
      this.target.join(r.addresses);
      this.handedOff = true;
    } catch (e) {
      this.opts.log?.warn({ err: (e as Error).message }, 'seed join round failed');
    } finally {
      this.busy = false;
      this.schedule();
    }
  }
}
