/**
 * The simulator's own machinery, driven by a toy protocol (ToyNode) so that the network's
 * rules can be checked message by message: latency, loss, partitions, blocked links,
 * paused and crashed nodes, the codec, determinism and the invariant hooks.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { encode, type Member, type MemberEvent, type SwimNodeOptions } from '@shoal/core';
import {
  EventQueue,
  InvariantViolation,
  SimCluster,
  SimConfigError,
  SimError,
  formatMemberTable,
  formatTable,
  percentile,
  withSeed,
  type SimClusterOptions,
} from '../src/index.js';
import { ToyNode } from './toy-node.js';

function toyCluster(opts: Partial<SimClusterOptions> & { ids: string[] }): { c: SimCluster; toy: (id: string) => ToyNode } {
  const { ids, ...rest } = opts;
  const c = new SimCluster({ seed: 7, nodeFactory: (o: SwimNodeOptions) => new ToyNode(o), ...rest });
  for (const id of ids) c.addNode(id);
  return { c, toy: (id) => c.node(id) as ToyNode };
}

const member = (id: string, incarnation: number, state: Member['state'] = 'alive'): Member => ({
  id,
  address: id,
  incarnation,
  state,
  tags: {},
  stateChangedAt: 0,
});

describe('EventQueue', () => {
  it('pops by time, then by insertion order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), (times) => {
        const q = new EventQueue<number>();
        times.forEach((t, i) => q.push(t, i));
        const out: number[] = [];
        for (let e = q.pop(); e; e = q.pop()) out.push(e.item);
        const expected = times.map((t, i) => ({ t, i })).sort((a, b) => a.t - b.t || a.i - b.i).map((x) => x.i);
        expect(out).toEqual(expected);
      }),
    );
  });

  it('rejects a non-finite time', () => {
    expect(() => new EventQueue<number>().push(NaN, 1)).toThrow(RangeError);
  });
});

describe('SimCluster network', () => {
  it('delivers within the latency range and counts real encoded bytes', () => {
    const { c, toy } = toyCluster({ ids: ['a', 'b'], network: { minLatencyMs: 2, maxLatencyMs: 7 } });
    c.startAll();
    c.runFor(10_500);
    const pings = toy('a').received.filter((r) => r.message.type === 'ping');
    expect(pings).toHaveLength(10);
    for (const p of pings) {
      const offset = p.at % 1000;
      expect(offset).toBeGreaterThanOrEqual(2);
      expect(offset).toBeLessThanOrEqual(7);
    }
    const sent = c.traffic('b').sent;
    const oneLen = encode(pings[0]!.message).length;
    expect(sent.byType.ping.messages).toBe(10);
    expect(sent.byType.ping.bytes).toBeGreaterThanOrEqual(10 * oneLen - 10);
    expect(c.traffic('a').received.bytes).toBe(sent.bytes);
    expect(c.traffic('a').sent.byType.ack.messages).toBe(10);
  });

  it('without the codec passes objects through and counts no bytes', () => {
    const { c, toy } = toyCluster({ ids: ['a', 'b'], network: { codec: false } });
    c.startAll();
    c.runFor(3_500);
    expect(toy('a').received.filter((r) => r.message.type === 'ping')).toHaveLength(3);
    expect(c.traffic('b').sent.byType.ping).toEqual({ messages: 3, bytes: 0 });
    expect(c.traffic('b').sent.bytes).toBe(0);
  });

  it('loses about the configured share of messages, globally and per link', () => {
    const ids = Array.from({ length: 10 }, (_, i) => `t${i}`);
    const { c } = toyCluster({ ids, network: { loss: 0.3 } });
    c.startAll();
    c.runFor(200_000);
    const sent = c.totalTraffic().sent.messages;
    expect(sent).toBeGreaterThan(2000);
    expect(c.drops.loss / sent).toBeGreaterThan(0.27);
    expect(c.drops.loss / sent).toBeLessThan(0.33);

    const { c: c2, toy } = toyCluster({ ids: ['a', 'b'] });
    c2.setLinkLoss('b', 'a', 1, true);
    c2.startAll();
    c2.runFor(5_500);
    expect(toy('a').received).toHaveLength(0);
    expect(c2.drops.loss).toBe(5);
  });

  it('drops messages across a partition, in flight too, until healed', () => {
    const { c, toy } = toyCluster({ ids: ['a', 'b', 'c'] });
    c.startAll(); // b and c ping a every second
    c.runFor(999);
    c.partition(['a', 'b'], ['c']);
    expect(c.groupOf('a')).toBe(1);
    expect(c.groupOf('c')).toBe(2);
    c.runFor(5_001); // t = 6000: b's and c's pings at 1000 … 6000 sent (b's at 6000 still in flight)
    const pingsFrom = (id: string) => toy('a').received.filter((r) => r.message.from === id && r.message.type === 'ping');
    expect(pingsFrom('c')).toHaveLength(0);
    expect(pingsFrom('b')).toHaveLength(5);
    expect(c.drops.partition).toBe(6);
    c.heal();
    expect(c.groupOf('a')).toBeUndefined();
    c.runFor(2_500);
    expect(pingsFrom('c')).toHaveLength(2); // sent at 7000 and 8000
    expect(c.drops.partition).toBe(6);

    const { c: c3, toy: toy3 } = toyCluster({ ids: ['a', 'b'] });
    c3.startAll();
    c3.runFor(1_002); // the first ping is in flight (latency ≥ 1 ms)
    c3.partition(['a'], ['b']);
    c3.runFor(10);
    expect(toy3('a').received.filter((r) => r.at > 1_002)).toHaveLength(0);
  });

  it('blocks one direction of a link', () => {
    const { c, toy } = toyCluster({ ids: ['a', 'b'] });
    c.startAll();
    c.runFor(2_500); // two pings and two acks
    c.block('a', 'b', true); // a → b (acks and a's own pings) dropped; pings b → a still arrive
    const pingsAtA = () => toy('a').received.filter((r) => r.message.type === 'ping');
    const acksAtB = () => toy('b').received.filter((r) => r.message.type === 'ack');
    expect(acksAtB()).toHaveLength(2);
    c.runFor(3_000); // t = 5500
    expect(pingsAtA()).toHaveLength(5);
    expect(acksAtB()).toHaveLength(2);
    expect(c.drops.blocked).toBe(6); // 3 acks + 3 pings from a
    c.unblock('a', 'b', true);
    c.runFor(1_000);
    expect(acksAtB()).toHaveLength(3);
  });

  it('holds messages for a paused node and delivers them, in order, before its timers on resume', () => {
    const { c, toy } = toyCluster({ ids: ['a', 'b'], network: { pausedQueueLimit: 4 } });
    c.startAll();
    c.runFor(500);
    c.pause('a');
    expect(c.isPaused('a')).toBe(true);
    c.runFor(6_000); // b pings at 1000 … 6000: 6 pings, 4 buffered, 2 overflow
    expect(toy('a').received).toHaveLength(0);
    expect(c.drops['paused-overflow']).toBe(2);
    const ackedBefore = toy('b').received.length;
    expect(ackedBefore).toBe(0);
    c.resume('a');
    c.runFor(0);
    const got = toy('a').received;
    expect(got.map((r) => r.at)).toEqual([6_500, 6_500, 6_500, 6_500]);
    expect(got.map((r) => (r.message as { seq: number }).seq)).toEqual([1, 2, 3, 4]);
    c.runFor(100);
    expect(toy('b').received.filter((r) => r.message.type === 'ack')).toHaveLength(4); // the acks of the buffered pings
    // a's overdue timers fired after the buffered messages: its pings carry later sequence numbers than none, but exist.
    expect(toy('b').received.filter((r) => r.message.type === 'ping').length).toBeGreaterThan(0);
    expect(c.impairmentsOf('a')).toEqual([expect.objectContaining({ kind: 'pause', from: 500, to: 6_500 })]);
  });

  it('drops everything to a crashed node and restarts it as a fresh node with the same address', () => {
    const { c, toy } = toyCluster({ ids: ['a', 'b'] });
    c.startAll();
    c.runFor(1_500);
    const first = toy('a');
    c.crash('a');
    expect(c.status('a')).toBe('crashed');
    expect(c.liveIds()).toEqual(['b']);
    c.runFor(3_000);
    expect(c.drops.crashed).toBe(3);
    expect(first.stopped).toBe(true);
    c.restart('a');
    expect(c.epoch('a')).toBe(1);
    expect(toy('a')).not.toBe(first);
    c.runFor(1_000);
    expect(toy('a').received).toHaveLength(1);
    expect(() => c.restart('a')).toThrow(SimError);
  });

  it('stops a leaving node once leaveDone() holds, and rejects calls on it', () => {
    const { c } = toyCluster({ ids: ['a', 'b'] });
    c.startAll();
    c.leave('b');
    expect(c.status('b')).toBe('left');
    expect(() => c.setTags('b', {})).toThrow(/seed=7.*node is left/);
    c.runFor(2_000);
    expect(c.drops.stopped).toBe(0);
  });

  it('runs scripted calls at their time and runUntil stops at the first check that holds', () => {
    const { c } = toyCluster({ ids: ['a'] });
    const seen: number[] = [];
    c.at(250, () => seen.push(c.now));
    c.after(100, () => seen.push(c.now));
    c.runFor(1_000);
    expect(seen).toEqual([100, 250]);
    expect(c.runUntil((x) => x.now >= 1_300, 10_000, 100)).toBe(true);
    expect(c.now).toBe(1_300);
    expect(c.runUntil(() => false, 500)).toBe(false);
    expect(c.now).toBe(1_800);
  });

  it('reports a node whose wake-up never moves', () => {
    const stuck = (o: SwimNodeOptions) => Object.assign(new ToyNode(o), { nextWakeAt: () => 0 });
    const c = new SimCluster({ seed: 99, nodeFactory: stuck, size: 1, maxTicksPerInstant: 50 });
    c.startAll();
    expect(() => c.runFor(10)).toThrow(/seed=99: node n1 is stuck/);
  });

  it('validates its options with named errors', () => {
    expect(() => new SimCluster({ seed: 1, network: { loss: 2 } })).toThrow(SimConfigError);
    expect(() => new SimCluster({ seed: 1, network: { minLatencyMs: 5, maxLatencyMs: 1 } })).toThrow(/maxLatencyMs/);
    expect(() => new SimCluster({ seed: -1 })).toThrow(/seed/);
    expect(() => new SimCluster({ seed: 1, config: { probeIntervalMs: -1 } })).toThrow(/probeIntervalMs/);
    const c = new SimCluster({ seed: 1, size: 2 });
    expect(() => c.setLoss(-0.1)).toThrow(SimConfigError);
    expect(() => c.addNode('n1')).toThrow(/already/);
    expect(() => c.partition(['n1'], ['n1'])).toThrow(/two groups/);
    expect(() => c.crash('nope')).toThrow(/seed=1: no node nope/);
  });

  it('replays the same run from the same seed', () => {
    const run = (seed: number) => {
      const { c } = toyCluster({ ids: ['a', 'b', 'c', 'd'], seed, network: { loss: 0.2, minLatencyMs: 1, maxLatencyMs: 30 } });
      c.startAll({ spreadMs: 2_000 });
      c.runFor(60_000);
      return JSON.stringify([c.drops, c.totalTraffic(), (c.node('a') as ToyNode).received]);
    };
    expect(run(5)).toBe(run(5));
    expect(run(5)).not.toBe(run(6));
  });
});

describe('invariant hooks', () => {
  const event = (type: MemberEvent['type'], m: Member, time = 0): MemberEvent => ({ type, member: m, time });

  it('throws with the seed when an observer sees an incarnation go backwards', () => {
    const { c, toy } = toyCluster({ ids: ['a', 'b'], seed: 31 });
    c.startAll();
    toy('a').inject = [
      { kind: 'event', event: event('alive', member('b', 3)) },
      { kind: 'event', event: event('suspect', member('b', 2, 'suspect')) },
    ];
    expect(() => c.runFor(1_500)).toThrow(InvariantViolation);
    expect(c.violations[0]!.message).toMatch(/^seed=31: invariant "incarnation monotonicity" violated: a \(life 0\) saw b go from incarnation 3 to 2/);
  });

  it('flags a failure of a live member, but not of a paused, crashed or declared one', () => {
    const { c, toy } = toyCluster({ ids: ['a', 'b', 'c'], seed: 32 });
    c.startAll();
    c.runFor(500);
    c.pause('b');
    toy('a').inject = [{ kind: 'event', event: event('failed', member('b', 0, 'failed')) }];
    c.runFor(1_000); // fine: b is paused
    c.crash('c');
    toy('a').inject = [{ kind: 'event', event: event('failed', member('c', 0, 'failed')) }];
    c.runFor(1_000); // fine: c is crashed
    c.resume('b');
    c.runFor(c.failureGraceMs() + 1_000);
    c.allowFailures('b', c.now, c.now + 1_400, 'a');
    toy('a').inject = [{ kind: 'event', event: event('failed', member('b', 0, 'failed')) }];
    c.runFor(1_000); // fine: declared
    toy('a').inject = [{ kind: 'event', event: event('failed', member('b', 0, 'failed')) }];
    expect(() => c.runFor(1_000)).toThrow(/seed=32: invariant "no false failures" violated: a marked b failed/);
  });

  it('after an impairment, excuses only old incarnations and only within the grace period', () => {
    const { c } = toyCluster({ ids: ['a', 'b'], seed: 33 });
    c.startAll();
    c.pause('b');
    c.runFor(1_000);
    c.resume('b'); // b's incarnation at the end: 0
    expect(c.failureExcused('b', 'a', 0, c.now + 10)).toBe(true);
    expect(c.failureExcused('b', 'a', 1, c.now + 10)).toBe(false);
    expect(c.failureExcused('b', 'a', 0, c.now + c.failureGraceMs() + 1)).toBe(false);
    // The observer's own pause excuses what it declares right after.
    expect(c.failureExcused('a', 'b', 5, c.now + 10)).toBe(true);
  });
});

describe('helpers', () => {
  it('withSeed puts the seed in any error message, once', async () => {
    await expect(withSeed(42, () => expect(1).toBe(2))).rejects.toThrow(/^seed=42: /);
    await expect(
      withSeed(42, () => {
        throw new SimError(42, 'x');
      }),
    ).rejects.toThrow(/^seed=42: x$/);
    await expect(withSeed(3, async () => 5)).resolves.toBe(5);
  });

  it('formats aligned tables and percentiles', () => {
    const t = formatTable(['id', 'n'], [
      ['a', 1],
      ['bbb', 100],
    ]);
    expect(t.split('\n')).toEqual(['id     n', '---  ---', 'a      1', 'bbb  100']);
    const m = formatMemberTable([{ ...member('n1', 2), tags: { zone: 'a', role: 'api' } }]);
    expect(m).toContain('role=api,zone=a');
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(percentile([1, 2, 3, 4], 0.99)).toBe(4);
    expect(percentile([], 0.5)).toBeUndefined();
  });
});
