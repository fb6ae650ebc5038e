import { describe, expect, it } from '@jest/globals';
import { ManualClock } from './clock.js';
import { resolveConfig, suspicionMinMs, type ShoalConfig } from './config.js';
import type { Effect, MemberEvent } from './effects.js';
import type { Message } from './messages.js';
import { SeededRandom } from './random.js';
import { SwimNode } from './swim.js';
import { decode, encode } from './codec.js';

/**
 * A step-by-step wire for unit tests: messages are delivered in order after a fixed 1 ms
 * latency, through the real codec, and a test can drop any message with a filter.
 * (libs/sim is the full simulator; this is just enough to drive single exchanges.)
 */
class Wire {
  readonly clock = new ManualClock(0);
  readonly nodes = new Map<string, SwimNode>();
  readonly events: { observer: string; event: MemberEvent }[] = [];
  readonly log: { from: string; to: string; message: Message }[] = [];
  private queue: { at: number; to: string; message: Message; from: string }[] = [];
  drop: (from: string, to: string, m: Message) => boolean = () => false;
  down = new Set<string>();

  constructor(
    readonly config: ShoalConfig,
    seed = 1,
  ) {
    this.random = new SeededRandom(seed);
  }
  private random: SeededRandom;

  add(id: string, tags: Record<string, string> = {}): SwimNode {
    const node = new SwimNode({ id, address: `${id}:7946`, tags, config: this.config, clock: this.clock, random: this.random.fork() });
    this.nodes.set(node.address, node);
    this.handle(node, node.start());
    return node;
  }

  handle(node: SwimNode, effects: Effect[]): void {
    for (const e of effects) {
      if (e.kind === 'event') this.events.push({ observer: node.id, event: e.event });
      else {
        const message = decode(encode(e.message));
        expect(message).toEqual(e.message);
        this.log.push({ from: node.id, to: e.to, message });
        if (!this.drop(node.id, e.to, message)) this.queue.push({ at: this.clock.now() + 1, to: e.to, message, from: node.id });
      }
    }
  }

  /** Runs the cluster until `until` ms, delivering messages and firing timers in time order. */
  runUntil(until: number): void {
    for (;;) {
      let next = Infinity;
      for (const q of this.queue) next = Math.min(next, q.at);
      for (const n of this.nodes.values()) if (!this.down.has(n.id)) next = Math.min(next, n.nextWakeAt() ?? Infinity);
      if (next > until) break;
      this.clock.set(Math.max(this.clock.now(), next));
      const due = this.queue.filter((q) => q.at <= this.clock.now());
      this.queue = this.queue.filter((q) => q.at > this.clock.now());
      for (const q of due) {
        const n = this.nodes.get(q.to);
        if (n && !this.down.has(n.id)) this.handle(n, n.receive(q.message));
      }
      for (const n of this.nodes.values()) {
        if (this.down.has(n.id)) continue;
        const w = n.nextWakeAt();
        if (w !== undefined && w <= this.clock.now()) this.handle(n, n.tick());
      }
    }
    this.clock.set(Math.max(this.clock.now(), until));
  }

  join(node: SwimNode, seed: SwimNode): void {
    this.handle(node, node.join([seed.address]));
  }

  state(observer: SwimNode, id: string): string | undefined {
    return observer.member(id)?.state;
  }
}

const lan = resolveConfig('lan', { pushPullIntervalMs: 0, reconnectIntervalMs: 0 });

function threeNodes(config = lan): { w: Wire; a: SwimNode; b: SwimNode; c: SwimNode } {
  const w = new Wire(config);
  const a = w.add('a');
  const b = w.add('b', { role: 'api' });
  const c = w.add('c');
  w.join(b, a);
  w.join(c, a);
  w.runUntil(3000);
  return { w, a, b, c };
}

describe('SwimNode', () => {
  it('joins through a seed and learns every member alive', () => {
    const { a, b, c } = threeNodes();
    for (const n of [a, b, c]) {
      expect(n.members().map((m) => [m.id, m.state])).toEqual([
        ['a', 'alive'],
        ['b', 'alive'],
        ['c', 'alive'],
      ]);
      expect(n.hasJoined()).toBe(true);
    }
    expect(c.member('b')!.tags).toEqual({ role: 'api' });
  });

  it('retries the join with growing delays while no seed answers', () => {
    const w = new Wire(lan);
    const a = w.add('a');
    w.handle(a, a.join(['nowhere:1']));
    w.runUntil(20_000);
    const attempts = w.log.filter((l) => l.to === 'nowhere:1' && l.message.type === 'push-pull').length;
    // 1 s, 2 s, 4 s, 8 s (with jitter between half and all of each) → 4 to 6 attempts in 20 s, not 20.
    expect(attempts).toBeGreaterThanOrEqual(4);
    expect(attempts).toBeLessThanOrEqual(6);
    expect(a.hasJoined()).toBe(false);
  });

  it('probes with ping and ack, one probe per protocol period, and sends nothing else when idle', () => {
    const { w, a } = threeNodes();
    w.runUntil(10_000); // let the join gossip die down
    const before = w.log.length;
    const probesBefore = a.stats().probes;
    w.runUntil(30_000);
    const sent = w.log.slice(before);
    const types = new Set(sent.map((l) => l.message.type));
    expect([...types].sort()).toEqual(['ack', 'ping']);
    expect(a.stats().probes - probesBefore).toBe(20);
    // Each of 3 nodes: one ping + one ack per second.
    expect(sent.length).toBe(3 * 2 * 20);
  });

  it('hands each probe round-trip sample over once, and stats() reads change nothing', () => {
    const { w, a } = threeNodes();
    w.runUntil(10_000);
    a.takeRttSamples();
    w.runUntil(20_000);
    const s1 = a.stats();
    expect(a.stats()).toEqual(s1);
    const rtts = a.takeRttSamples();
    // 10 direct probes, each a ping and an ack over the 1 ms wire.
    expect(rtts).toEqual(Array(10).fill(2));
    expect(a.takeRttSamples()).toEqual([]);
  });

  it("counts a probe's round trip to the ack's receive time when the runtime gives one (never a future or invalid one)", () => {
    const clock = new ManualClock(0);
    const cfg = { ...lan, probeIntervalMs: 1000 };
    const a = new SwimNode({ id: 'a', address: 'a:1', tags: {}, config: cfg, clock, random: new SeededRandom(3) });
    a.start();
    a.receive({ type: 'push-pull', from: 'b', addr: 'b:1', join: false, reply: false, members: [{ id: 'b', address: 'b:1', incarnation: 0, state: 'alive', tags: {} }] } as Message);
    const pingOf = (effects: Effect[]) => effects.find((e): e is Extract<Effect, { kind: 'send' }> => e.kind === 'send' && e.message.type === 'ping')?.message as Extract<Message, { type: 'ping' }> | undefined;
    const rttFor = (receivedAt: number | undefined, now: number): number[] => {
      let ping: Extract<Message, { type: 'ping' }> | undefined;
      while (!ping) {
        clock.set(a.nextWakeAt()!);
        ping = pingOf(a.tick());
      }
      const sentAt = clock.now();
      clock.set(sentAt + now);
      a.receive({ type: 'ack', from: 'b', addr: 'b:1', seq: ping.seq, updates: [] }, receivedAt === undefined ? undefined : sentAt + receivedAt);
      return a.takeRttSamples();
    };
    expect(rttFor(0.5, 3)).toEqual([0.5]);
    expect(rttFor(undefined, 3)).toEqual([3]);
    expect(rttFor(5, 3)).toEqual([3]); // after now: ignored
    expect(rttFor(Number.NaN, 2)).toEqual([2]);
  });

  it('reaches a target through ping-req helpers when the direct path is blocked, without suspecting it', () => {
    const { w, a, c } = threeNodes();
    w.drop = (from, to, m) => (from === 'a' && to === 'c:7946' && m.type === 'ping') || (from === 'c' && to === 'a:7946');
    w.runUntil(20_000);
    expect(a.stats().indirectProbes).toBeGreaterThan(0);
    expect(w.events.some((e) => e.observer === 'a' && e.event.member.id === 'c' && e.event.type === 'suspect')).toBe(false);
    expect(w.state(a, 'c')).toBe('alive');
    expect(a.healthScore()).toBe(0);
  });

  it('suspects an unresponsive member, tells it in the ping (buddy system), and it refutes with a higher incarnation', () => {
    const { w, a, b, c } = threeNodes();
    // b answers nothing for a while (acks and relays lost), but still receives.
    w.drop = (from) => from === 'b';
    w.runUntil(w.clock.now() + 3000);
    expect(w.events.some((e) => e.event.member.id === 'b' && e.event.type === 'suspect')).toBe(true);
    w.drop = () => false;
    w.runUntil(w.clock.now() + 5000);
    const buddyPings = w.log.filter(
      (l) => l.to === 'b:7946' && l.message.type === 'ping' && l.message.updates[0]?.id === 'b' && l.message.updates[0]?.state === 'suspect',
    );
    expect(buddyPings.length).toBeGreaterThan(0);
    expect(b.self().incarnation).toBeGreaterThan(0);
    expect(b.stats().refutations).toBeGreaterThan(0);
    for (const n of [a, c]) expect(n.member('b')).toMatchObject({ state: 'alive', incarnation: b.self().incarnation });
    expect(w.events.some((e) => e.event.member.id === 'b' && e.event.type === 'failed')).toBe(false);
  });

  it('marks a crashed member failed after the suspicion timeout, and not before', () => {
    const { w, a, c } = threeNodes();
    const crashAt = w.clock.now();
    w.down.add('b');
    w.runUntil(crashAt + 60_000);
    const suspectAt = w.events.find((e) => e.observer === 'a' && e.event.member.id === 'b' && e.event.type === 'suspect')!.event.time;
    const failedAt = w.events.find((e) => e.observer === 'a' && e.event.member.id === 'b' && e.event.type === 'failed')!.event.time;
    // n = 3 → min = 4 × max(1, log10 3) × 1 s = 4 s; k = 0 in a cluster this small → timeout = min.
    expect(failedAt - suspectAt).toBeGreaterThanOrEqual(suspicionMinMs(lan, 3) - 2);
    expect(failedAt - suspectAt).toBeLessThanOrEqual(suspicionMinMs(lan, 3) + 1500);
    expect(w.state(a, 'b')).toBe('failed');
    expect(w.state(c, 'b')).toBe('failed');
  });

  it('spreads a tag change with a higher incarnation', () => {
    const { w, a, b, c } = threeNodes();
    w.handle(b, b.setTags({ role: 'db', zone: 'eu' }));
    w.runUntil(w.clock.now() + 2000);
    for (const n of [a, c]) expect(n.member('b')).toMatchObject({ tags: { role: 'db', zone: 'eu' }, incarnation: 1 });
    expect(w.events.filter((e) => e.observer === 'a' && e.event.type === 'updated').length).toBe(1);
    expect(() => b.setTags({ big: 'x'.repeat(600) })).toThrow(RangeError);
  });

  it('leaves gracefully: others record left, never failed, and leaveDone becomes true', () => {
    const { w, a, b, c } = threeNodes();
    w.handle(b, b.leave());
    expect(b.self()).toMatchObject({ state: 'left', incarnation: 1 });
    w.runUntil(w.clock.now() + 3000);
    expect(b.leaveDone()).toBe(true);
    w.down.add('b');
    w.runUntil(w.clock.now() + 30_000);
    for (const n of [a, c]) expect(n.member('b')!.state).toBe('left');
    expect(w.events.some((e) => e.event.member.id === 'b' && e.event.type === 'failed')).toBe(false);
  });

  it('Lifeguard: helpers\' nacks keep the local health score at 0 when the target is the one that died', () => {
    const w = new Wire(lan);
    const nodes = ['a', 'b', 'c', 'd'].map((id) => w.add(id));
    for (const n of nodes.slice(1)) w.join(n, nodes[0]!);
    w.runUntil(3000);
    w.down.add('d');
    w.runUntil(w.clock.now() + 4000);
    const a = nodes[0]!;
    expect(a.stats().nacksReceived + nodes[1]!.stats().nacksReceived + nodes[2]!.stats().nacksReceived).toBeGreaterThan(0);
    for (const n of nodes.slice(0, 3)) expect(n.healthScore()).toBe(0);
  });

  it('Lifeguard: a node that hears nothing back raises its health score and stretches its probe interval', () => {
    const { w, a } = threeNodes();
    w.drop = (_from, to) => to === 'a:7946';
    const before = a.stats().probes;
    w.runUntil(w.clock.now() + 20_000);
    expect(a.healthScore()).toBeGreaterThan(2);
    // With a score of s the period is (s + 1) s, so far fewer than 20 probes went out in 20 s.
    expect(a.stats().probes - before).toBeLessThan(12);
  });

  it('probes a member whose phi is over the threshold next, ahead of the round-robin order', () => {
    // Long suspicions keep h suspect (not failed) while its phi climbs.
    const w = new Wire({ ...lan, suspicionMult: 50 }, 3);
    const nodes = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((id) => w.add(id));
    for (const n of nodes.slice(1)) w.join(n, nodes[0]!);
    w.runUntil(60_000);
    const a = nodes[0]!;
    w.down.add('h');
    // Step until a's phi for h crosses the threshold, then the very next ping a sends goes to h.
    let t = w.clock.now();
    while (a.phi('h') <= lan.phiThreshold && t < 200_000) w.runUntil((t += 50));
    expect(a.phi('h')).toBeGreaterThan(lan.phiThreshold);
    const from = w.log.length;
    w.runUntil(t + 2 * lan.probeIntervalMs);
    const nextPing = w.log.slice(from).find((l) => l.from === 'a' && l.message.type === 'ping');
    expect(nextPing?.to).toBe('h:7946');
  });

  it('answers outdated bad news with the newer record, straight back to its sender', () => {
    const { w, a, b } = threeNodes();
    w.handle(b, b.setTags({ v: '2' })); // b is now at incarnation 1
    w.runUntil(w.clock.now() + 2000);
    const from = w.log.length;
    // c still gossips an old suspicion of b (incarnation 0): a corrects c directly.
    w.handle(a, a.receive({ type: 'gossip', from: 'c', addr: 'c:7946', updates: [{ id: 'b', address: 'b:7946', incarnation: 0, state: 'suspect', by: 'c' }] }));
    const reply = w.log.slice(from).find((l) => l.from === 'a' && l.to === 'c:7946');
    expect(reply?.message).toMatchObject({ type: 'gossip', updates: [{ id: 'b', incarnation: 1, state: 'alive' }] });
    expect(a.stats().corrections).toBe(1);
    // Not again within the same probe interval.
    w.handle(a, a.receive({ type: 'gossip', from: 'c', addr: 'c:7946', updates: [{ id: 'b', address: 'b:7946', incarnation: 0, state: 'suspect', by: 'c' }] }));
    expect(a.stats().corrections).toBe(1);
  });

  it('a failed probe of a member already suspected counts as an independent confirmation', () => {
    const w = new Wire(lan);
    const nodes = ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => w.add(id));
    for (const n of nodes.slice(1)) w.join(n, nodes[0]!);
    w.runUntil(5000);
    w.down.add('f');
    const crashAt = w.clock.now();
    w.runUntil(crashAt + 30_000);
    const failedAt = w.events.filter((e) => e.event.member.id === 'f' && e.event.type === 'failed').map((e) => e.event.time);
    expect(failedAt.length).toBe(5);
    // n = 6: min = 4 s, max = 24 s, k = 2. Without confirmations the first failure would come
    // no sooner than 24 s after the first suspicion; with them it comes well before.
    const firstSuspect = w.events.find((e) => e.event.member.id === 'f' && e.event.type === 'suspect')!.event.time;
    expect(Math.min(...failedAt) - firstSuspect).toBeLessThan(12_000);
  });

  it('drops pings addressed to another member id and counts them', () => {
    const { w, a } = threeNodes();
    w.handle(a, a.receive({ type: 'ping', from: 'x', addr: 'x:1', seq: 1, target: 'someone-else', updates: [] }));
    expect(a.stats().misaddressed).toBe(1);
    expect(w.log.at(-1)?.to).not.toBe('x:1');
  });

  it('ignores suspicions and failures of members it never knew, and rejects over-size tags', () => {
    const { a } = threeNodes();
    a.receive({ type: 'gossip', from: 'b', addr: 'b:7946', updates: [{ id: 'ghost', address: 'g:1', incarnation: 3, state: 'failed' }] });
    expect(a.member('ghost')).toBeUndefined();
    a.receive({ type: 'gossip', from: 'b', addr: 'b:7946', updates: [{ id: 'big', address: 'g:1', incarnation: 0, state: 'alive', tags: { t: 'y'.repeat(1000) } }] });
    expect(a.member('big')).toBeUndefined();
    expect(a.stats().updatesRejected).toBe(1);
  });

  it('is deterministic for a seed', () => {
    const run = (seed: number) => {
      const w = new Wire(lan, seed);
      const nodes = ['a', 'b', 'c', 'd', 'e'].map((id) => w.add(id));
      for (const n of nodes.slice(1)) w.join(n, nodes[0]!);
      w.runUntil(20_000);
      return w.log.map((l) => `${l.from}>${l.to}:${l.message.type}`).join('\n');
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });
});
