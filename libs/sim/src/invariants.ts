/**
 * Invariant checks usable from any scenario. The event hooks (incarnations, false failures)
 * run on every member event and throw at the first breach; the others are predicates and
 * assertions to call at chosen moments. Every failure is an InvariantViolation whose message
 * carries the seed.
 */
import { tagsEqual } from '@shoal/core';
import type { EventListener, LoggedEvent, SimCluster } from './cluster.js';
import { InvariantViolation } from './errors.js';

// ─── convergence ────────────────────────────────────────────────────────────────────

/**
 * What keeps the cluster from being converged: for every pair of live nodes (started, not
 * crashed, not leaving or left), the observer must hold the other as alive with the
 * incarnation and tags the other holds for itself. Returns at most `limit` descriptions.
 */
export function convergenceProblems(cluster: SimCluster, limit = 10): string[] {
  const out: string[] = [];
  const live = cluster.liveIds();
  const selves = live.map((id) => cluster.node(id).self());
  for (const observer of live) {
    const node = cluster.node(observer);
    for (const me of selves) {
      if (me.id === observer) continue;
      const m = node.member(me.id);
      let problem: string | undefined;
      if (!m) problem = 'unknown';
      else if (m.state !== 'alive') problem = `${m.state}@${m.incarnation}`;
      else if (m.incarnation !== me.incarnation) problem = `incarnation ${m.incarnation}, not ${me.incarnation}`;
      else if (!tagsEqual(m.tags, me.tags)) problem = `tags ${JSON.stringify(m.tags)}, not ${JSON.stringify(me.tags)}`;
      if (problem) {
        out.push(`${observer} sees ${me.id}: ${problem}`);
        if (out.length >= limit) return out;
      }
    }
  }
  return out;
}

/** Every live node sees every other live node alive, with the same incarnation and tags. */
export function converged(cluster: SimCluster): boolean {
  return convergenceProblems(cluster, 1).length === 0;
}

export function assertConverged(cluster: SimCluster, context = ''): void {
  const problems = convergenceProblems(cluster, 10);
  if (problems.length)
    throw new InvariantViolation(cluster.seed, 'converged', `${context ? context + ': ' : ''}at t=${cluster.now}: ${problems.join('; ')}`);
}

/** Every live node other than `memberId` holds it in `state` (e.g. 'failed' or 'left'). */
export function allSee(cluster: SimCluster, memberId: string, state: 'alive' | 'suspect' | 'failed' | 'left'): boolean {
  for (const id of cluster.liveIds()) {
    if (id === memberId) continue;
    if (cluster.node(id).member(memberId)?.state !== state) return false;
  }
  return true;
}

// ─── event hooks ────────────────────────────────────────────────────────────────────

/**
 * Incarnation monotonicity: per observer (per life of the observer), per member, the
 * incarnations in its events never go backwards, and no event replaces a higher incarnation
 * by a lower one. Installed by SimCluster unless checkIncarnations is false.
 */
export function incarnationCheck(): EventListener {
  const last = new Map<string, number>();
  return (e, cluster) => {
    const key = `${e.observer}\u0000${e.observerEpoch}\u0000${e.event.member.id}`;
    const inc = e.event.member.incarnation;
    const prev = last.get(key);
    if (prev !== undefined && inc < prev)
      cluster.violation(
        'incarnation monotonicity',
        `${e.observer} (life ${e.observerEpoch}) saw ${e.event.member.id} go from incarnation ${prev} to ${inc} (${e.event.type}) at t=${e.time}`,
      );
    if (e.event.previous && e.event.previous.incarnation > inc)
      cluster.violation(
        'incarnation monotonicity',
        `${e.observer} replaced ${e.event.member.id}@${e.event.previous.incarnation} by a lower incarnation ${inc} (${e.event.type}) at t=${e.time}`,
      );
    last.set(key, prev === undefined ? inc : Math.max(prev, inc));
  };
}

/**
 * No false failures: no node marks a member failed unless the member (or the observer) is or
 * was impaired — crashed, paused, partitioned, behind a blocked link, or inside a window the
 * scenario declared with `allowFailures`. After an impairment ends, only the member's old
 * incarnations may still be failed, and only within `failureGraceMs()`. Left and leaving
 * members are outside this check. Installed by SimCluster unless checkFalseFailures is false.
 */
export function falseFailureCheck(): EventListener {
  return (e, cluster) => {
    if (e.event.type !== 'failed') return;
    const m = e.event.member;
    if (m.id === e.observer) return;
    if (cluster.failureExcused(m.id, e.observer, m.incarnation, e.time)) return;
    cluster.violation(
      'no false failures',
      `${e.observer} marked ${m.id} failed at t=${e.time} (incarnation ${m.incarnation}) while ${m.id} was live, running and reachable`,
    );
  };
}

/** Throws if any event about `memberId` has one of the given types (e.g. a left member marked failed). */
export function neverEvent(cluster: SimCluster, memberId: string, types: readonly string[], what: string): () => void {
  return cluster.onEvent((e, c) => {
    if (e.event.member.id === memberId && e.observer !== memberId && types.includes(e.event.type))
      c.violation(what, `${e.observer} recorded ${e.event.type} for ${memberId}@${e.event.member.incarnation} at t=${e.time}`);
  });
}

// ─── detection ──────────────────────────────────────────────────────────────────────

export interface DetectionSummary {
  /** When the member was crashed (or the watch began). */
  readonly since: number;
  /** Observers that have marked it failed, with the latency in ms. */
  readonly latencies: readonly { observer: string; ms: number }[];
  /** Live observers that have not (yet). */
  readonly missing: readonly string[];
  readonly first?: number;
  readonly p50?: number;
  readonly p99?: number;
  readonly max?: number;
}

/**
 * Watches one member from now on (call it right when crashing it): records, per observer,
 * the first time it marks the member failed (and suspect).
 */
export class DetectionWatch {
  readonly since: number;
  private readonly failedAt = new Map<string, number>();
  private readonly suspectAt = new Map<string, number>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly cluster: SimCluster,
    readonly memberId: string,
  ) {
    this.since = cluster.now;
    this.unsubscribe = cluster.onEvent((e: LoggedEvent) => {
      if (e.event.member.id !== memberId || e.observer === memberId) return;
      if (e.event.type === 'failed' && !this.failedAt.has(e.observer)) this.failedAt.set(e.observer, e.time);
      if (e.event.type === 'suspect' && !this.suspectAt.has(e.observer)) this.suspectAt.set(e.observer, e.time);
    });
  }

  /** Every live node other than the member has marked it failed. */
  allDetected(): boolean {
    for (const id of this.cluster.liveIds()) if (id !== this.memberId && !this.failedAt.has(id)) return false;
    return true;
  }

  firstSuspectedAt(): number | undefined {
    let first: number | undefined;
    for (const t of this.suspectAt.values()) if (first === undefined || t < first) first = t;
    return first;
  }

  summary(): DetectionSummary {
    const latencies: { observer: string; ms: number }[] = [];
    const missing: string[] = [];
    for (const id of this.cluster.liveIds()) {
      if (id === this.memberId) continue;
      const t = this.failedAt.get(id);
      if (t === undefined) missing.push(id);
      else latencies.push({ observer: id, ms: t - this.since });
    }
    const sorted = latencies.map((l) => l.ms).sort((a, b) => a - b);
    return {
      since: this.since,
      latencies,
      missing,
      first: sorted[0],
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      max: sorted[sorted.length - 1],
    };
  }

  /** Detection bound: every live node has marked the member failed within `boundMs` of the watch start. */
  assertWithin(boundMs: number): DetectionSummary {
    const s = this.summary();
    const late = s.latencies.filter((l) => l.ms > boundMs);
    if (s.missing.length || late.length)
      throw new InvariantViolation(
        this.cluster.seed,
        'detection bound',
        `${this.memberId} (crashed at t=${this.since}) not marked failed within ${boundMs} ms by ${s.missing.length} live nodes` +
          ` [${s.missing.slice(0, 10).join(', ')}], late at ${late.length} [${late
            .slice(0, 10)
            .map((l) => `${l.observer}:${l.ms}ms`)
            .join(', ')}]`,
      );
    return s;
  }

  dispose(): void {
    this.unsubscribe();
  }
}

/** Nearest-rank percentile of an ascending array (undefined when empty). */
export function percentile(sorted: readonly number[], q: number): number | undefined {
  if (!sorted.length) return undefined;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}
