/**
 * Protocol scenarios on the deterministic simulator (issue 2). Every scenario runs the real
 * SwimNode from @shoal/core over the simulated network with the 'lan' preset, the wire codec
 * on, and the incarnation-monotonicity and no-false-failure checks on every member event
 * (SimCluster installs both). A failure prints its seed; `SHOAL_SIM_SEED=<n>` replays or
 * explores another seed.
 */
import { describe, expect, it } from '@jest/globals';
import { pushPullIntervalFor, resolveConfig, suspicionMinMs } from '@shoal/core';
import {
  DetectionWatch,
  SimCluster,
  allSee,
  assertConverged,
  convergenceProblems,
  converged,
  detectionBound,
  neverEvent,
  seedFromEnv,
  withSeed,
} from '../src/index.js';

const LAN = resolveConfig('lan');
const T = LAN.probeIntervalMs;

/** A run that ends with no invariant breach and nothing odd on the wire. */
function expectClean(c: SimCluster): void {
  if (process.env.SIM_DEBUG) console.log(`t=${c.now} msgs=${c.totalTraffic().sent.messages} events=${c.eventCount} drops=${JSON.stringify(c.drops)}`);
  expect(c.violations).toEqual([]);
  expect(c.anomalies).toEqual([]);
  expect(c.drops['codec-error']).toBe(0);
  expect(c.oversize).toEqual({});
}

/**
 * Join deadline. Every joiner does a push-pull (a full state exchange) with the seed and
 * learns of later joiners by gossip: usually everyone knows everyone within a second, about
 * ceil(log n / log gossipNodes) gossip intervals. But each update is retransmitted only
 * retransmitMult × ceil(log10(n + 1)) times per member (4 for n < 10), so when many join at
 * once a member sometimes misses a joiner's `alive` (seen with 8 nodes and no loss, seed 15)
 * and learns it at its next push-pull, every pushPullIntervalFor(n) × [0.5, 1.5): 30 s for
 * n ≤ 32, 90 s for n = 100. Deadline: 1.5 push-pull intervals + a join retry + 5 s.
 */
function joinDeadlineMs(n: number): number {
  return 1.5 * pushPullIntervalFor(LAN, n) + LAN.joinRetryBaseMs + 5_000;
}

function startCluster(seed: number, size: number, network: ConstructorParameters<typeof SimCluster>[0]['network'] = {}): SimCluster {
  const c = new SimCluster({ seed, size, preset: 'lan', network });
  c.startAll();
  const ok = c.runUntil(converged, joinDeadlineMs(size), 250);
  if (!ok) assertConverged(c, `no convergence ${joinDeadlineMs(size)} ms after ${size} joins`);
  return c;
}

describe('scenarios (lan preset)', () => {
  it('1. three nodes join through one seed, see each other alive, and see a tag change', () =>
    withSeed(seedFromEnv(1001), (seed) => {
      const c = startCluster(seed, 3);
      for (const id of c.ids()) {
        expect(c.view(id).map((m) => [m.id, m.state])).toEqual([
          ['n1', 'alive'],
          ['n2', 'alive'],
          ['n3', 'alive'],
        ]);
      }
      c.setTags('n2', { role: 'api', zone: 'eu-1' });
      // A tag change is one broadcast: it reaches both others in a gossip round or two.
      expect(c.runUntil(converged, 5_000, 50)).toBe(true);
      for (const id of ['n1', 'n3']) {
        const n2 = c.node(id).member('n2')!;
        expect(n2.tags).toEqual({ role: 'api', zone: 'eu-1' });
        expect(n2.incarnation).toBe(1);
        expect(c.events.some((e) => e.observer === id && e.event.type === 'updated' && e.event.member.id === 'n2')).toBe(true);
      }
      expectClean(c);
    }));

  it('2. 100 nodes converge; a crash is detected by every live member within the derived bound', () =>
    withSeed(seedFromEnv(1002), (seed) => {
      const n = 100;
      const c = startCluster(seed, n);
      c.runFor(10_000); // settle: join broadcasts drain
      assertConverged(c, 'before the crash');
      /*
       * Detection bound (ms), with T = probeIntervalMs = 1000 (libs/sim/src/bounds.ts):
       * - first probe of the dead member: each of the n − 1 others probes it in a given period
       *   with probability ≈ 1/(n − 1), so nobody does with probability ≈ 1/e; the wait is
       *   geometric, expected T·e/(e − 1) ≈ 1.58 T, and P(> k·T) ≈ e^−k. Allow k = 8: 8 T.
       *   (The worst case for one prober's round-robin is a full round, (n − 1) T, but with
       *   n − 1 independent probers the first one comes much sooner.)
       * - the probe round: ping, probe timeout, ping-req via k helpers, suspect at period end: T.
       * - suspicion: suspicionMin(n) = suspicionMult × log10(100) × T = 4 × 2 × 1000 = 8 s.
       *   Lifeguard starts at suspicionMaxMult × min = 48 s and shrinks to min with enough
       *   independent confirmations. Hard bound: no confirmations (48 s); tighter: min (8 s).
       * - dissemination of `failed`: ceil(log 100 / log gossipNodes=3) = 5 gossip intervals of
       *   200 ms (+5 ms latency per hop), plus one probe period for piggyback: 2.03 s.
       * Hard bound = 8 + 1 + 48 + 2.03 = 59.03 s; with confirmations 8 + 1 + 8 + 2.03 = 19.03 s.
       */
      const bound = detectionBound(c.config, n, { tailPeriods: 8, maxLatencyMs: 5 });
      const min = suspicionMinMs(c.config, n);
      expect(min).toBe(8_000);
      const hops = Math.ceil(Math.log(n) / Math.log(c.config.gossipNodes));
      const dissemination = hops * (c.config.gossipIntervalMs + 5) + T;
      expect(bound.withoutConfirmationsMs).toBeCloseTo(8 * T + T + c.config.suspicionMaxMult * min + dissemination, 6);
      expect(bound.withConfirmationsMs).toBeCloseTo(8 * T + T + min + dissemination, 6);

      const victim = 'n42';
      c.crash(victim);
      const watch = new DetectionWatch(c, victim);
      const done = c.runUntil(() => watch.allDetected(), bound.withoutConfirmationsMs + 1_000, 100);
      const s = watch.summary();
      if (!done) watch.assertWithin(bound.withoutConfirmationsMs);
      watch.assertWithin(bound.withoutConfirmationsMs);
      expect(s.latencies).toHaveLength(n - 1);
      // Lifeguard's confirmations should bring the typical member well under the no-confirmation bound.
      expect(s.p50!).toBeLessThanOrEqual(bound.withConfirmationsMs);
      // Nothing else was failed, the rest of the cluster is still converged.
      c.runFor(5_000);
      assertConverged(c, 'after the crash');
      expectClean(c);
    }));

  /*
   * Known protocol issue (reported to the lead, libs/core not patched here): with
   * SHOAL_SIM_SEED=13, 22 or 28 (3 of the 20 seeds 11-30 tried) one member marks a live one
   * failed. Seed 13: n2 refutes suspect@4 with alive@5 at t≈567.2 s; the refutation reaches
   * 98 of 99 members within 1 s, but no message at all reaches n50 between 567.6 s and
   * 568.4 s, when the epidemic (12 retransmissions per member) is over; n50's suspicion of
   * n2@4 (started 566.68 s, one confirmation) expires at 589.44 s and n50 marks n2 failed;
   * n50 learns alive@5 from a push-pull at 590.72 s. Nothing resends a newer incarnation to a
   * member that still holds a stale suspicion.
   */
  it('3. 100 nodes at 10% message loss for 10 simulated minutes: no live member is ever failed', () =>
    withSeed(seedFromEnv(1003), (seed) => {
      const n = 100;
      const c = startCluster(seed, n); // join on a clean network, then turn the loss on
      let suspects = 0;
      c.onEvent((e) => {
        if (e.event.type === 'suspect') suspects++;
      });
      c.setLoss(0.1);
      c.runFor(600_000); // the false-failure hook throws at the first live member marked failed
      expect(c.events.filter((e) => e.event.type === 'failed')).toEqual([]);
      expect(c.drops.loss).toBeGreaterThan(0);
      // Loss this heavy does cause suspicions (refuted in time): the run is not vacuous.
      expect(suspects).toBeGreaterThan(0);
      /*
       * Loss off: a member that missed a refutation's epidemic (every update is retransmitted
       * only retransmitMult × ceil(log10(n + 1)) = 12 times per member) is brought up to date
       * by the next push-pull, every pushPullIntervalFor(n) = 90 s × [0.5, 1.5) for n = 100.
       * Deadline: 1.5 × that + 10 s.
       */
      c.setLoss(0);
      const deadline = 1.5 * pushPullIntervalFor(c.config, n) + 10_000;
      if (!c.runUntil(converged, deadline, 500)) assertConverged(c, `${deadline} ms after the loss stopped`);
      expectClean(c);
    }));

  it('4. a short pause is at most suspected; a long pause is failed, then refuted with a higher incarnation', () =>
    withSeed(seedFromEnv(1004), (seed) => {
      const n = 10;
      const c = startCluster(seed, n);
      c.runFor(5_000);
      const victim = 'n5';
      const min = suspicionMinMs(c.config, n); // 4 s for n = 10
      /*
       * Short pause: the earliest suspicion comes one probe period after the pause starts
       * (the probe round ends at T); the earliest failure a full suspicion minimum later, at
       * pause + T + min = pause + 5 s. A pause of 0.75 × min = 3 s ends before that, and the
       * refutation spreads in ceil(log 10 / log 3) = 3 gossip intervals (0.6 s), well in time.
       */
      const short = 0.75 * min;
      const unsubscribe = neverEvent(c, victim, ['failed'], 'short pause never fails');
      const inc0 = c.node(victim).self().incarnation;
      /*
       * Whether anyone probes the victim during one pause is chance (nobody does in about
       * e^-2 of pauses: only probes started in the first 2 s end inside a 3 s pause), so pause
       * it five times, 20 s apart: it must be suspected at least once and never failed.
       */
      for (let i = 0; i < 5; i++) {
        c.pause(victim);
        c.runFor(short);
        c.resume(victim);
        c.runFor(20_000);
      }
      c.runFor(40_000);
      unsubscribe();
      const suspected = c.events.filter((e) => e.event.type === 'suspect' && e.event.member.id === victim);
      expect(suspected.length).toBeGreaterThan(0); // it was noticed …
      expect(c.node(victim).self().incarnation).toBeGreaterThan(inc0); // … and refuted
      assertConverged(c, 'after the short pause');

      /*
       * Long pause: longer than the no-confirmation detection bound for n = 10
       * (8 T + T + 6 × 4 s + dissemination ≈ 34.6 s), plus 5 s: everyone must mark it failed
       * while it is paused.
       */
      const bound = detectionBound(c.config, n);
      const long = bound.withoutConfirmationsMs + 5_000;
      const inc1 = c.node(victim).self().incarnation;
      c.pause(victim);
      const watch = new DetectionWatch(c, victim);
      expect(c.runUntil(() => watch.allDetected(), long, 100)).toBe(true);
      c.runFor(long - (c.now - watch.since));
      expect(allSee(c, victim, 'failed')).toBe(true);
      c.resume(victim);
      /*
       * On resume the node reads its buffered messages first: gossip to the dead (members keep
       * telling a failed member for gossipToTheDeadMs = 30 s) says it failed, so it refutes at
       * once with incarnation + 1, which outranks `failed`; otherwise the next reconnect round
       * (every reconnectIntervalMs = 10 s) brings a push-pull. Deadline: reconnect interval +
       * dissemination (≈ 2 s) + margin = 15 s.
       */
      const back = c.runUntil(converged, c.config.reconnectIntervalMs + 5_000, 100);
      if (!back) assertConverged(c, 'after the long pause');
      const inc2 = c.node(victim).self().incarnation;
      expect(inc2).toBeGreaterThan(inc1);
      for (const id of c.liveIds()) if (id !== victim) expect(c.node(id).member(victim)).toMatchObject({ state: 'alive', incarnation: inc2 });
      expectClean(c);
    }));

  it('5. a partition into two halves: each side fails the other, then all are alive again after the heal', () =>
    withSeed(seedFromEnv(1005), (seed) => {
      const n = 20;
      const c = startCluster(seed, n);
      c.runFor(5_000);
      const a = c.ids().slice(0, n / 2);
      const b = c.ids().slice(n / 2);
      const min = suspicionMinMs(c.config, n); // 5.2 s
      const bound = detectionBound(c.config, n); // no-confirmation bound ≈ 41.8 s
      /*
       * Several suspicion timeouts: past the no-confirmation detection bound, and then past
       * gossipToTheDeadMs (30 s), so that after the heal nobody is still gossiping to the
       * members it failed and the rejoin must come from the reconnect rounds.
       */
      const duration = Math.max(6 * min, bound.withoutConfirmationsMs + c.config.gossipToTheDeadMs + 5_000);
      c.partition(a, b);
      const partitionedAt = c.now;
      const sidesFailed = (): boolean =>
        a.every((x) => b.every((y) => c.node(x).member(y)?.state === 'failed' && c.node(y).member(x)?.state === 'failed'));
      expect(c.runUntil(sidesFailed, duration, 250)).toBe(true);
      const sidesFailedAt = c.now;
      // Each side still sees its own half alive.
      for (const x of a) for (const y of a) if (x !== y) expect(c.node(x).member(y)?.state).toBe('alive');
      c.runFor(Math.max(0, duration - (c.now - partitionedAt)));
      expect(c.now - partitionedAt).toBeGreaterThanOrEqual(duration);
      c.heal();
      const healedAt = c.now;
      /*
       * Rejoin without restarts: every node runs a reconnect round every reconnectIntervalMs
       * (10 s, first one at a random phase) doing a push-pull with a random failed member.
       * Each exchange shows both ends their own `failed` (taken as a suspicion), so both refute
       * with incarnation + 1, which outranks `failed` everywhere once gossiped
       * (ceil(log 20 / log 3) = 3 gossip intervals). Members learn of their own failure from
       * the first exchange that reaches them or from their side's suspicion that one exchange
       * triggers, so one reconnect interval gets every node refuted. Deadline: 2 reconnect
       * intervals + one suspicion minimum for refutations of the suspicions that push-pull
       * causes + 5 s margin = 30.2 s.
       */
      const deadline = 2 * c.config.reconnectIntervalMs + min + 5_000;
      const ok = c.runUntil(converged, deadline, 250);
      if (process.env.SIM_DEBUG) console.log(`partition ${duration} ms, sides failed after ${sidesFailedAt - partitionedAt} ms, healed in ${c.now - healedAt} ms`);
      if (!ok) assertConverged(c, `not converged ${deadline} ms after the heal (${convergenceProblems(c, 1).length} problems)`);
      expect(c.now - healedAt).toBeLessThanOrEqual(deadline);
      expect(c.liveIds()).toHaveLength(n); // nobody was restarted
      expect(c.epoch('n1') + c.epoch('n20')).toBe(0);
      expectClean(c);
    }));

  it('6. a graceful leave is recorded as left by everyone and never as failed', () =>
    withSeed(seedFromEnv(1006), (seed) => {
      const n = 10;
      const c = startCluster(seed, n);
      c.runFor(3_000);
      const leaver = 'n4';
      // A member whose probe of the leaver was in flight when it stopped may suspect it before
      // the leave reaches it (seen with seed 20); it must never fail it.
      neverEvent(c, leaver, ['failed'], 'a leaver is never failed');
      c.leave(leaver);
      /*
       * The leave goes out at once to gossipNodes members and spreads by gossip, usually in
       * well under a second; a member that misses all retransmissions (seen: seed 20, where n9
       * learned it 21.9 s later) only learns it at its next push-pull. Deadline as for joins.
       */
      expect(c.runUntil(() => allSee(c, leaver, 'left'), joinDeadlineMs(n), 50)).toBe(true);
      expect(c.status(leaver)).toBe('left');
      // Long enough for any stray suspicion timer to have fired: the no-confirmation bound.
      c.runFor(detectionBound(c.config, n).withoutConfirmationsMs);
      for (const id of c.liveIds()) {
        expect(c.node(id).member(leaver)?.state).toBe('left');
        expect(c.events.some((e) => e.observer === id && e.event.type === 'left' && e.event.member.id === leaver)).toBe(true);
      }
      assertConverged(c, 'after the leave');
      expectClean(c);
    }));

  it('7. incarnation monotonicity is checked on every event of every scenario', () =>
    withSeed(seedFromEnv(1007), (seed) => {
      // The check is a SimCluster default; here it runs through crash, restart and refutations,
      // where a restarted node (incarnation 0) must refute its old `failed` upwards.
      let checked = 0;
      const c = new SimCluster({ seed, size: 8 });
      c.onEvent(() => checked++);
      c.startAll();
      expect(c.runUntil(converged, joinDeadlineMs(8), 250)).toBe(true);
      c.crash('n3');
      const watch = new DetectionWatch(c, 'n3');
      expect(c.runUntil(() => watch.allDetected(), detectionBound(c.config, 8).withoutConfirmationsMs, 100)).toBe(true);
      const failedAt = c.node('n1').member('n3')!.incarnation;
      c.restart('n3');
      expect(c.runUntil(converged, c.config.reconnectIntervalMs + 10_000, 100)).toBe(true);
      expect(c.node('n1').member('n3')!.incarnation).toBeGreaterThan(failedAt);
      expect(checked).toBe(c.eventCount); // every event went through the hooks
      expect(checked).toBeGreaterThan(50);
      expect(c.violations).toEqual([]);
      expectClean(c);
    }));

  it('8. the same seed gives the same trace; another seed another one', () =>
    withSeed(seedFromEnv(1008), (seed) => {
      const run = (s: number): { hash: string; events: number } => {
        const c = new SimCluster({ seed: s, size: 20, network: { loss: 0.05 } });
        c.startAll({ spreadMs: 2_000 });
        c.runFor(15_000);
        c.crash('n7');
        c.setTags('n2', { v: '2' });
        c.runFor(45_000);
        return { hash: c.traceHash(), events: c.eventCount };
      };
      const first = run(seed);
      expect(run(seed)).toEqual(first);
      expect(run(seed + 1).hash).not.toBe(first.hash);
      expect(first.events).toBeGreaterThan(100); // not a vacuous run
    }));
});
