/**
 * The SWIM + Lifeguard state machine of one member. Pure: time comes from the injected
 * Clock, randomness from the injected Random, and every call returns the effects (messages
 * to send, member events) for the runtime to carry out. The runtime calls `tick()` at
 * `nextWakeAt()`.
 *
 * Protocol period (awareness-scaled):  ping target ── probe timeout ──▶ ping-req via k helpers
 *   ── end of period ──▶ no ack: suspect target (Lifeguard dynamic suspicion timeout) ──▶ failed.
 */
import { Awareness } from './awareness.js';
import { baseWireSize, updateWireSize } from './codec.js';
import type { Clock } from './clock.js';
import { pushPullIntervalFor, suspicionMinMs, type ShoalConfig } from './config.js';
import type { Effect, MemberEvent } from './effects.js';
import type { Member, MemberState, MemberUpdate, Tags } from './member.js';
import { tagsSize } from './member.js';
import type {
  AckMessage,
  Message,
  MessageType,
  NackMessage,
  PingMessage,
  PingReqMessage,
  PushPullMessage,
} from './messages.js';
import { HealthChecker } from './phi-accrual.js';
import { supersedes } from './incarnation.js';
import { ProbeScheduler } from './probe-scheduler.js';
import { randomInt, sample, type Random } from './random.js';
import { Registry, type MemberQuery } from './registry.js';
import { Suspicion } from './suspicion.js';
import { BroadcastQueue } from './dissemination.js';
import { TimerQueue, type TimerHandle } from './timers.js';

export interface SwimNodeOptions {
  /** Unique member id. */
  id: string;
  /** Advertised address, "host:port". */
  address: string;
  tags?: Tags;
  config: ShoalConfig;
  clock: Clock;
  random: Random;
  /** Starting incarnation (a restarted node may pass what it persisted). */
  incarnation?: number;
}

export interface SwimStats {
  probes: number;
  probeSuccesses: number;
  probeFailures: number;
  indirectProbes: number;
  nacksReceived: number;
  suspicions: number;
  refutations: number;
  failuresDeclared: number;
  /** Updates dropped on receipt: over the tag limit, or the member table full. */
  updatesRejected: number;
  /** Pings addressed to another member id than ours (stale address). */
  misaddressed: number;
  /** Outdated bad news answered with our newer record (see maybeCorrect). */
  corrections: number;
  joinAttempts: number;
  pushPulls: number;
  sent: Record<MessageType, number>;
  received: Record<MessageType, number>;
}

interface PendingProbe {
  readonly seq: number;
  readonly target: string;
  readonly sentAt: number;
  acked: boolean;
  expectedNacks: number;
  nacks: number;
}

interface Relay {
  readonly requesterAddr: string;
  readonly requesterSeq: number;
  readonly target: string;
  readonly targetAddr: string;
  nackTimer?: TimerHandle;
}

const SEQ_MOD = 0x1_0000_0000;
const MAX_RTT_SAMPLES = 1024;

function zeroCounts(): Record<MessageType, number> {
  return { ping: 0, ack: 0, 'ping-req': 0, nack: 0, gossip: 0, 'push-pull': 0 };
}

export class SwimNode {
  readonly id: string;
  readonly address: string;
  readonly registry = new Registry();

  private readonly config: ShoalConfig;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly timers = new TimerQueue();
  private readonly scheduler: ProbeScheduler;
  private readonly broadcasts: BroadcastQueue;
  private readonly awareness: Awareness;
  private readonly health: HealthChecker;
  private readonly suspicions = new Map<string, { suspicion: Suspicion; timer: TimerHandle }>();
  private readonly pending = new Map<number, PendingProbe>();
  private readonly relays = new Map<number, Relay>();
  /** Corrections to send back at the end of the current receive(), by sender address. */
  private readonly corrections = new Map<string, MemberUpdate[]>();
  private readonly correctedAt = new Map<string, number>();
  /** Address of the sender of the message being handled (corrections go there). */
  private correctionFrom: string | undefined;
  /** Other members that are alive or suspect, rebuilt lazily after a state change. */
  private liveIds: string[] | undefined;
  /** Other members currently failed (for gossip to the dead and rejoin attempts). */
  private readonly failedIds = new Set<string>();
  private out: Effect[] = [];
  private seq = 0;
  private incarnation: number;
  private tags: Tags;
  private started = false;
  private gossipArmed = false;
  private stopped = false;
  private leaving = false;
  private leaveStartedAt = 0;
  private leaveSends = 0;
  private seeds: string[] = [];
  private joined = true;
  private joinAttempt = 0;
  private joinTimer?: TimerHandle;
  private readonly counters: SwimStats = {
    probes: 0,
    probeSuccesses: 0,
    probeFailures: 0,
    indirectProbes: 0,
    nacksReceived: 0,
    suspicions: 0,
    refutations: 0,
    failuresDeclared: 0,
    updatesRejected: 0,
    misaddressed: 0,
    corrections: 0,
    joinAttempts: 0,
    pushPulls: 0,
    sent: zeroCounts(),
    received: zeroCounts(),
  };
  /** Probe round-trip samples not yet taken (takeRttSamples). */
  private rttSamples: number[] = [];

  constructor(opts: SwimNodeOptions) {
    this.id = opts.id;
    this.address = opts.address;
    this.config = opts.config;
    this.clock = opts.clock;
    this.random = opts.random;
    this.incarnation = opts.incarnation ?? 0;
    this.tags = { ...(opts.tags ?? {}) };
    if (tagsSize(this.tags) > this.config.maxTagsBytes)
      throw new RangeError(`tags take ${tagsSize(this.tags)} bytes, over maxTagsBytes=${this.config.maxTagsBytes}`);
    this.scheduler = new ProbeScheduler(this.random);
    this.broadcasts = new BroadcastQueue({ retransmitMult: this.config.retransmitMult });
    this.awareness = new Awareness(this.config.awarenessMaxMultiplier);
    this.health = new HealthChecker({
      windowSize: this.config.phiWindowSize,
      minStdDevMs: this.config.phiMinStdDevMs,
      acceptablePauseMs: this.config.phiAcceptablePauseMs,
      firstHeartbeatEstimateMs: this.config.probeIntervalMs,
      threshold: this.config.phiThreshold,
    });
    this.registry.put(this.selfRecord('alive'));
  }

  // ─── public API ───────────────────────────────────────────────────────────────────

  /** Arms the protocol timers. Emits `joined` for the node itself. */
  start(): Effect[] {
    if (this.started || this.stopped) return this.flush();
    this.started = true;
    const now = this.clock.now();
    this.emit({ type: 'joined', member: this.self(), time: now });
    // Stagger the first probe over one interval so that nodes started together do not beat in step.
    this.timers.schedule(now + this.random.next() * this.config.probeIntervalMs, () => this.probeRound());
    this.armGossip();
    if (this.config.pushPullIntervalMs > 0)
      this.timers.schedule(now + this.pushPullDelay(), () => this.pushPullRound());
    if (this.config.reconnectIntervalMs > 0)
      this.timers.schedule(now + this.config.reconnectIntervalMs * (0.5 + this.random.next()), () => this.reconnectRound());
    return this.flush();
  }

  /** Joins through seed addresses: a full state exchange with each, retried with backoff until one answers. */
  join(seeds: readonly string[]): Effect[] {
    if (this.stopped) return this.flush();
    this.seeds = [...new Set(seeds)].filter((s) => s && s !== this.address);
    this.joined = this.seeds.length === 0;
    this.joinAttempt = 0;
    this.joinTimer && (this.joinTimer.cancelled = true);
    if (!this.joined) this.joinRound();
    return this.flush();
  }

  /** True once a seed has answered the join (or there were no seeds). */
  hasJoined(): boolean {
    return this.joined;
  }

  /**
   * Handles one message. `receivedAt` (the clock's time when it came off the network, before
   * the runtime opened and decoded it; at most now) is what a probe's round trip and the
   * health checker's heartbeat count to, as memberlist does; default now.
   */
  receive(message: Message, receivedAt?: number): Effect[] {
    if (this.stopped) return [];
    this.counters.received[message.type]++;
    const now = this.clock.now();
    const at = receivedAt !== undefined && Number.isFinite(receivedAt) && receivedAt <= now ? receivedAt : now;
    if (message.from !== this.id) this.health.heartbeat(message.from, at);
    // A relayed ack names the target, not the relay: corrections only go to direct senders.
    this.correctionFrom = message.type === 'ack' ? undefined : message.addr;
    switch (message.type) {
      case 'ping':
        this.onPing(message);
        break;
      case 'ack':
        this.onAck(message, at);
        break;
      case 'ping-req':
        this.onPingReq(message);
        break;
      case 'nack':
        this.onNack(message);
        break;
      case 'gossip':
        this.mergeUpdates(message.updates, message.from);
        break;
      case 'push-pull':
        this.onPushPull(message);
        break;
    }
    this.correctionFrom = undefined;
    for (const [to, updates] of this.corrections) {
      this.counters.corrections += updates.length;
      this.emitSend(to, { type: 'gossip', from: this.id, addr: this.address, updates });
    }
    this.corrections.clear();
    return this.flush();
  }

  tick(): Effect[] {
    if (this.stopped) return [];
    this.timers.runDue(this.clock.now());
    return this.flush();
  }

  nextWakeAt(): number | undefined {
    return this.stopped ? undefined : this.timers.nextAt();
  }

  /** Graceful leave: incarnation + 1, state left, spread to several members before stopping. */
  leave(): Effect[] {
    if (this.stopped || this.leaving) return this.flush();
    this.leaving = true;
    const now = this.clock.now();
    this.leaveStartedAt = now;
    this.incarnation++;
    const previous = this.self();
    const me = this.selfRecord('left');
    this.registry.put(me);
    this.enqueue(this.updateOf(me));
    this.emit({ type: 'left', member: me, previous, time: now });
    // Do not wait for the next gossip round: tell some members right away.
    this.gossipRound(false);
    if (this.config.leaveTimeoutMs > 0) this.timers.schedule(now + this.config.leaveTimeoutMs, () => undefined);
    return this.flush();
  }

  /** The leave has gone out leaveMinSends times, or leaveTimeoutMs has passed (or nobody is left to tell). */
  leaveDone(): boolean {
    if (!this.leaving) return false;
    if (this.leaveSends >= this.config.leaveMinSends) return true;
    if (this.registry.liveCount() === 0) return true;
    return this.clock.now() - this.leaveStartedAt >= this.config.leaveTimeoutMs;
  }

  isLeaving(): boolean {
    return this.leaving;
  }

  /** Replaces this member's tags; the change spreads with incarnation + 1. */
  setTags(tags: Tags): Effect[] {
    const size = tagsSize(tags);
    if (size > this.config.maxTagsBytes)
      throw new RangeError(`tags take ${size} bytes, over maxTagsBytes=${this.config.maxTagsBytes}`);
    if (this.stopped || this.leaving) return this.flush();
    const previous = this.self();
    this.tags = { ...tags };
    this.incarnation++;
    const me = this.selfRecord('alive');
    this.registry.put(me);
    this.enqueue(this.updateOf(me));
    this.emit({ type: 'updated', member: me, previous, time: this.clock.now() });
    return this.flush();
  }

  /** Stops every timer; later calls do nothing. */
  stop(): void {
    this.stopped = true;
    this.timers.clear();
    this.out = [];
  }

  self(): Member {
    return this.registry.get(this.id)!;
  }

  members(query?: MemberQuery): Member[] {
    return this.registry.query(query);
  }

  member(id: string): Member | undefined {
    return this.registry.get(id);
  }

  phi(id: string): number {
    return this.health.phi(id, this.clock.now());
  }

  healthScore(): number {
    return this.awareness.score();
  }

  /** Updates still queued for piggybacking. */
  queuedBroadcasts(): number {
    return this.broadcasts.size();
  }

  /** A snapshot of the counters (reading it changes nothing). */
  stats(): SwimStats {
    return { ...this.counters, sent: { ...this.counters.sent }, received: { ...this.counters.received } };
  }

  /**
   * Round-trip times (ms) of the successful direct probes since the last call, oldest
   * first; they are handed over once. At most MAX_RTT_SAMPLES are kept between calls.
   */
  takeRttSamples(): number[] {
    const taken = this.rttSamples;
    this.rttSamples = [];
    return taken;
  }

  // ─── probing ──────────────────────────────────────────────────────────────────────

  private probeRound(): void {
    const now = this.clock.now();
    const interval = this.awareness.scale(this.config.probeIntervalMs);
    if (!this.leaving) {
      const urgent = this.health.overThreshold(now).find((id) => this.probeable(id));
      if (urgent) this.scheduler.prioritize(urgent);
      const target = this.scheduler.next((id) => this.probeable(id));
      if (target) this.probe(this.registry.get(target)!, now, interval);
    }
    this.timers.schedule(now + interval, () => this.probeRound());
  }

  private probeable(id: string): boolean {
    const m = this.registry.get(id);
    return !!m && (m.state === 'alive' || m.state === 'suspect');
  }

  private probe(target: Member, now: number, interval: number): void {
    const seq = this.nextSeq();
    // The round trip counts from the ping being handed out (as memberlist does), not from the
    // start of the round (choosing the target, scanning health); with a virtual clock it is the same.
    const probe: PendingProbe = { seq, target: target.id, sentAt: this.clock.now(), acked: false, expectedNacks: 0, nacks: 0 };
    this.pending.set(seq, probe);
    this.counters.probes++;
    // Buddy system: a suspect learns of its suspicion inside the ping itself.
    const first: MemberUpdate[] = [];
    if (target.state === 'suspect') first.push({ id: target.id, address: target.address, incarnation: target.incarnation, state: 'suspect', by: this.id });
    this.send(target.address, { type: 'ping', from: this.id, addr: this.address, seq, target: target.id, updates: [] }, first);
    const timeout = Math.min(this.awareness.scale(this.config.probeTimeoutMs), interval);
    this.timers.schedule(now + timeout, () => this.probeTimedOut(probe));
    this.timers.schedule(now + interval, () => this.probeEnded(probe));
  }

  private probeTimedOut(probe: PendingProbe): void {
    if (probe.acked || this.stopped) return;
    const target = this.registry.get(probe.target);
    if (!target || (target.state !== 'alive' && target.state !== 'suspect')) return;
    const candidates = this.live().filter((id) => id !== probe.target && this.registry.get(id)!.state === 'alive');
    const helpers = sample(this.random, candidates, this.config.indirectChecks);
    probe.expectedNacks = this.config.nackEnabled ? helpers.length : 0;
    for (const h of helpers) {
      const helper = this.registry.get(h)!;
      this.counters.indirectProbes++;
      this.send(helper.address, {
        type: 'ping-req',
        from: this.id,
        addr: this.address,
        seq: probe.seq,
        target: target.id,
        targetAddr: target.address,
        wantNack: this.config.nackEnabled,
        updates: [],
      });
    }
  }

  private probeEnded(probe: PendingProbe): void {
    this.pending.delete(probe.seq);
    if (probe.acked || this.stopped) return;
    this.counters.probeFailures++;
    // Lifeguard: missed nacks mean our own links (or we) are the problem, not just the target.
    const delta = probe.expectedNacks > 0 ? probe.expectedNacks - probe.nacks : 1;
    this.awareness.apply(delta);
    const target = this.registry.get(probe.target);
    // Suspect an alive target; for one already suspected, our failed probe is an
    // independent confirmation (Lifeguard), which shortens its suspicion timeout.
    if (target && (target.state === 'alive' || target.state === 'suspect') && !this.leaving) {
      this.apply({ id: target.id, address: target.address, incarnation: target.incarnation, state: 'suspect', by: this.id }, this.id);
    }
  }

  private onPing(msg: PingMessage): void {
    if (msg.target !== this.id) {
      this.counters.misaddressed++;
      return;
    }
    this.mergeUpdates(msg.updates, msg.from);
    this.send(msg.addr, { type: 'ack', from: this.id, addr: this.address, seq: msg.seq, updates: [] }, [], msg.from);
  }

  private onAck(msg: AckMessage, at: number): void {
    this.mergeUpdates(msg.updates, msg.from);
    const relay = this.relays.get(msg.seq);
    if (relay) {
      this.relays.delete(msg.seq);
      if (relay.nackTimer) relay.nackTimer.cancelled = true;
      this.send(relay.requesterAddr, { type: 'ack', from: relay.target, addr: relay.targetAddr, seq: relay.requesterSeq, updates: [] });
      return;
    }
    const probe = this.pending.get(msg.seq);
    if (!probe || probe.acked || msg.from !== probe.target) return;
    probe.acked = true;
    this.counters.probeSuccesses++;
    this.awareness.apply(-1);
    if (this.rttSamples.length < MAX_RTT_SAMPLES) this.rttSamples.push(at - probe.sentAt);
  }

  private onPingReq(msg: PingReqMessage): void {
    this.mergeUpdates(msg.updates, msg.from);
    const seq = this.nextSeq();
    const relay: Relay = { requesterAddr: msg.addr, requesterSeq: msg.seq, target: msg.target, targetAddr: msg.targetAddr };
    this.relays.set(seq, relay);
    this.send(msg.targetAddr, { type: 'ping', from: this.id, addr: this.address, seq, target: msg.target, updates: [] });
    const now = this.clock.now();
    if (msg.wantNack) {
      relay.nackTimer = this.timers.schedule(now + this.config.probeTimeoutMs * this.config.nackTimeoutRatio, () => {
        if (!this.relays.has(seq)) return;
        const nack: NackMessage = { type: 'nack', from: this.id, addr: this.address, seq: msg.seq };
        this.send(msg.addr, nack);
      });
    }
    // Forget the relay once the requester's protocol period is surely over.
    this.timers.schedule(now + this.config.probeIntervalMs * this.config.awarenessMaxMultiplier, () => this.relays.delete(seq));
  }

  private onNack(msg: NackMessage): void {
    this.counters.nacksReceived++;
    const probe = this.pending.get(msg.seq);
    if (probe && !probe.acked) probe.nacks++;
  }

  // ─── membership updates ───────────────────────────────────────────────────────────

  private mergeUpdates(updates: readonly MemberUpdate[], from: string): void {
    for (const u of updates) this.apply(u, from);
  }

  /** Applies one update about any member (including ourselves) received from `from`. */
  private apply(u: MemberUpdate, from: string): void {
    const now = this.clock.now();
    if (!u.id || !u.address) {
      this.counters.updatesRejected++;
      return;
    }
    if (u.id === this.id) {
      this.applyAboutSelf(u);
      return;
    }
    const current = this.registry.get(u.id);
    if (!current) {
      // Suspicions and deaths of members we never knew are not ours to record.
      if (u.state !== 'alive') return;
      if (this.registry.size >= this.config.maxMembers) {
        this.counters.updatesRejected++;
        return;
      }
    }
    if (current && !supersedes(u, current)) {
      this.maybeCorrect(u, current, from, now);
      // Lifeguard: an independent suspicion of an already suspected member shortens the timeout.
      if (u.state === 'suspect' && current.state === 'suspect' && u.incarnation === current.incarnation) {
        const s = this.suspicions.get(u.id);
        if (s && s.suspicion.confirm(u.by ?? from)) {
          this.rearmSuspicion(u.id);
          this.enqueue({ id: u.id, address: u.address, incarnation: u.incarnation, state: 'suspect', by: u.by ?? from });
        }
      }
      return;
    }
    if (u.tags && tagsSize(u.tags) > this.config.maxTagsBytes) {
      this.counters.updatesRejected++;
      return;
    }
    const result = this.registry.apply(u, now);
    if (!result.applied) return;
    const member = result.member!;
    this.track(member, result.previous?.state);
    if (member.state === 'alive' || member.state === 'suspect') this.scheduler.add(member.id);
    if (member.state !== 'suspect') this.clearSuspicion(member.id);
    if (member.state === 'suspect' && result.previous?.state !== 'suspect') {
      this.startSuspicion(member, u.by ?? from, now);
      // Probe a new suspect ourselves next: if it lives, the buddy ping lets it refute at
      // once (its ack carries the refutation); if not, our failed probe confirms.
      if (from !== this.id) this.scheduler.prioritize(member.id);
    }
    if (member.state === 'suspect' && result.previous?.state === 'suspect') {
      // A newer incarnation was suspected again: restart the clock.
      this.clearSuspicion(member.id);
      this.startSuspicion(member, u.by ?? from, now);
    }
    if (member.state === 'failed' || member.state === 'left') this.health.remove(member.id);
    this.enqueue(this.updateOf(member, u.by));
    if (result.event) this.emit(result.event);
  }

  /**
   * The sender told us bad news (suspect/failed) that we know to be outdated: the member
   * has since refuted, or left. Send our record straight back, so that a node that missed
   * the refutation while it was being gossiped does not go on to fail a live member (or
   * fail a member that left). At most once per member per probe interval.
   */
  private maybeCorrect(u: MemberUpdate, current: Member, from: string, now: number): void {
    if (u.state !== 'suspect' && u.state !== 'failed') return;
    const newer = current.incarnation > u.incarnation && (current.state === 'alive' || current.state === 'left');
    const left = current.state === 'left' && current.incarnation === u.incarnation;
    if (!newer && !left) return;
    if (from === this.id || !this.correctionFrom) return;
    const last = this.correctedAt.get(current.id);
    if (last !== undefined && now - last < this.config.probeIntervalMs) return;
    this.correctedAt.set(current.id, now);
    if (this.correctedAt.size > 1024) this.correctedAt.clear();
    const list = this.corrections.get(this.correctionFrom) ?? [];
    list.push(this.updateOf(current));
    this.corrections.set(this.correctionFrom, list);
  }

  private applyAboutSelf(u: MemberUpdate): void {
    if (u.incarnation < this.incarnation) {
      // Someone still holds stale bad news about us (our refutation may have been lost):
      // announce our current record again, without raising the incarnation.
      if (u.state !== 'alive' && !this.leaving && this.broadcasts.transmits(this.id) === undefined)
        this.enqueue(this.updateOf(this.self()));
      return;
    }
    if (this.leaving) {
      // We are leaving: make sure the leave outranks anything still going round.
      if (u.incarnation >= this.incarnation && !(u.state === 'left' && u.incarnation === this.incarnation)) {
        this.incarnation = u.incarnation + 1;
        const me = this.selfRecord('left');
        this.registry.put(me);
        this.enqueue(this.updateOf(me));
      }
      return;
    }
    if (u.state === 'alive' && u.incarnation === this.incarnation) return;
    // Anyone else speaking of us at our incarnation or above with another story: refute.
    this.incarnation = u.incarnation + 1;
    this.counters.refutations++;
    if (u.state !== 'alive') this.awareness.apply(1);
    const me = this.selfRecord('alive');
    this.registry.put(me);
    this.enqueue(this.updateOf(me));
  }

  private startSuspicion(member: Member, by: string, now: number): void {
    this.counters.suspicions++;
    const n = this.registry.liveCount();
    const min = suspicionMinMs(this.config, n);
    const max = this.config.suspicionMaxMult * min;
    // memberlist's choice: expect suspicionMult - 2 confirmations, none in tiny clusters.
    let k = Math.max(0, Math.round(this.config.suspicionMult) - 2);
    if (n - 2 < k) k = 0;
    const suspicion = new Suspicion({ from: by, k, minMs: min, maxMs: max, start: now });
    const incarnation = member.incarnation;
    const entry = { suspicion, timer: { cancelled: true } as TimerHandle };
    this.suspicions.set(member.id, entry);
    entry.timer = this.timers.schedule(suspicion.deadline(), () => this.suspicionExpired(member.id, incarnation));
  }

  private rearmSuspicion(id: string): void {
    const entry = this.suspicions.get(id);
    const m = this.registry.get(id);
    if (!entry || !m) return;
    entry.timer.cancelled = true;
    const incarnation = m.incarnation;
    entry.timer = this.timers.schedule(Math.max(this.clock.now(), entry.suspicion.deadline()), () =>
      this.suspicionExpired(id, incarnation),
    );
  }

  private clearSuspicion(id: string): void {
    const entry = this.suspicions.get(id);
    if (entry) {
      entry.timer.cancelled = true;
      this.suspicions.delete(id);
    }
  }

  private suspicionExpired(id: string, incarnation: number): void {
    this.suspicions.delete(id);
    const m = this.registry.get(id);
    if (!m || m.state !== 'suspect' || m.incarnation !== incarnation) return;
    this.counters.failuresDeclared++;
    this.apply({ id, address: m.address, incarnation, state: 'failed', by: this.id }, this.id);
  }

  // ─── dissemination, anti-entropy, join, rejoin ────────────────────────────────────

  /** Queues an update for piggybacking and makes sure a gossip round is coming. */
  private enqueue(update: MemberUpdate): void {
    this.broadcasts.enqueue(update);
    this.armGossip();
  }

  /**
   * The gossip round runs only while something is queued: an idle cluster's nodes wake
   * for their probes alone (each timer wake-up costs real CPU on a runtime).
   */
  private armGossip(): void {
    if (this.gossipArmed || !this.started || this.stopped || this.broadcasts.isEmpty()) return;
    this.gossipArmed = true;
    this.timers.schedule(this.clock.now() + this.config.gossipIntervalMs, () => {
      this.gossipArmed = false;
      this.gossipRound();
    });
  }

  private gossipRound(reschedule = true): void {
    const now = this.clock.now();
    if (!this.broadcasts.isEmpty()) {
      const targets = sample(this.random, this.gossipCandidates(now), this.config.gossipNodes);
      for (const id of targets) {
        const m = this.registry.get(id)!;
        this.send(m.address, { type: 'gossip', from: this.id, addr: this.address, updates: [] }, [], id);
      }
    }
    if (reschedule) this.armGossip();
  }

  private gossipCandidates(now: number): string[] {
    const live = this.live();
    let out: string[] | undefined;
    for (const id of this.failedIds) {
      const m = this.registry.get(id)!;
      if (now - m.stateChangedAt < this.config.gossipToTheDeadMs) (out ??= live.slice()).push(id);
    }
    return out ?? live;
  }

  private live(): string[] {
    if (!this.liveIds) {
      this.liveIds = [];
      for (const m of this.registry.all())
        if (m.id !== this.id && (m.state === 'alive' || m.state === 'suspect')) this.liveIds.push(m.id);
    }
    return this.liveIds;
  }

  /** Keeps the cached id lists in step with a member's state. */
  private track(m: Member, previous: MemberState | undefined): void {
    if (m.id === this.id || previous === m.state) return;
    this.liveIds = undefined;
    if (m.state === 'failed') this.failedIds.add(m.id);
    else this.failedIds.delete(m.id);
  }

  private pushPullDelay(): number {
    return pushPullIntervalFor(this.config, this.registry.liveCount()) * (0.5 + this.random.next());
  }

  private pushPullRound(): void {
    const now = this.clock.now();
    if (!this.leaving) {
      const alive = this.live().filter((id) => this.registry.get(id)!.state === 'alive');
      if (alive.length) this.sendPushPull(this.registry.get(alive[randomInt(this.random, alive.length)]!)!.address, false, false);
    }
    this.timers.schedule(now + this.pushPullDelay(), () => this.pushPullRound());
  }

  private reconnectRound(): void {
    const now = this.clock.now();
    this.reapTombstones(now);
    if (!this.leaving) {
      // Rejoin after a partition: try one failed member now and then, and the seeds when alone.
      const failed = [...this.failedIds];
      if (failed.length) this.sendPushPull(this.registry.get(failed[randomInt(this.random, failed.length)]!)!.address, false, false);
      if (this.registry.liveCount() <= 1 && this.seeds.length)
        this.sendPushPull(this.seeds[randomInt(this.random, this.seeds.length)]!, true, false);
    }
    this.timers.schedule(now + this.config.reconnectIntervalMs, () => this.reconnectRound());
  }

  private reapTombstones(now: number): void {
    for (const m of [...this.registry.all()]) {
      if ((m.state === 'failed' || m.state === 'left') && m.id !== this.id && now - m.stateChangedAt >= this.config.tombstoneMs) {
        this.registry.remove(m.id);
        this.failedIds.delete(m.id);
        this.liveIds = undefined;
        this.scheduler.remove(m.id);
        this.health.remove(m.id);
        this.broadcasts.invalidate(m.id);
      }
    }
  }

  private joinRound(): void {
    if (this.joined || this.stopped) return;
    this.counters.joinAttempts++;
    for (const seed of this.seeds) this.sendPushPull(seed, true, false);
    const delay = Math.min(this.config.joinRetryMaxMs, this.config.joinRetryBaseMs * 2 ** this.joinAttempt);
    this.joinAttempt++;
    // Full jitter on top of half the delay keeps retries from many nodes apart.
    this.joinTimer = this.timers.schedule(this.clock.now() + delay * (0.5 + 0.5 * this.random.next()), () => this.joinRound());
  }

  private sendPushPull(to: string, join: boolean, reply: boolean): void {
    this.counters.pushPulls++;
    const members: MemberUpdate[] = [];
    for (const m of this.registry.all()) members.push(this.updateOf(m));
    this.emitSend(to, { type: 'push-pull', from: this.id, addr: this.address, join, reply, members });
  }

  private onPushPull(msg: PushPullMessage): void {
    for (const u of msg.members) {
      // As memberlist does: a remote "failed" is taken as a suspicion, so that a member
      // wrongly failed on the other side of a healed partition gets its chance to refute.
      this.apply(u.state === 'failed' ? { ...u, state: 'suspect', by: msg.from } : u, msg.from);
    }
    if (msg.reply) {
      if (msg.join && !this.joined) {
        this.joined = true;
        if (this.joinTimer) this.joinTimer.cancelled = true;
      }
      return;
    }
    this.sendPushPull(msg.addr, msg.join, true);
  }

  // ─── helpers ──────────────────────────────────────────────────────────────────────

  private selfRecord(state: MemberState): Member {
    const prev = this.registry.get(this.id);
    return {
      id: this.id,
      address: this.address,
      incarnation: this.incarnation,
      state,
      tags: this.tags,
      stateChangedAt: prev && prev.state === state ? prev.stateChangedAt : this.clock.now(),
    };
  }

  private updateOf(m: Member, by?: string): MemberUpdate {
    if (m.state === 'alive') return { id: m.id, address: m.address, incarnation: m.incarnation, state: m.state, tags: m.tags };
    return by !== undefined && m.state === 'suspect'
      ? { id: m.id, address: m.address, incarnation: m.incarnation, state: m.state, by }
      : { id: m.id, address: m.address, incarnation: m.incarnation, state: m.state };
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) % SEQ_MOD;
    return this.seq;
  }

  /**
   * Sends a ping/ack/ping-req/gossip with piggybacked updates: `first` go in ahead of the
   * queue (buddy system), then queued broadcasts up to the message size budget.
   */
  private send(to: string, message: Message, first: MemberUpdate[] = [], recipientId?: string): void {
    if (message.type === 'ping' || message.type === 'ack' || message.type === 'ping-req' || message.type === 'gossip') {
      let budget = this.config.maxMessageBytes - baseWireSize(message);
      const updates: MemberUpdate[] = [];
      for (const u of first) {
        budget -= updateWireSize(u);
        updates.push(u);
      }
      if (!this.broadcasts.isEmpty() && budget > 0) {
        const n = this.registry.liveCount();
        const taken = this.broadcasts.take(budget, n, updateWireSize, recipientId ? (u) => u.id === recipientId && u.state === 'alive' : undefined);
        for (const u of taken) {
          updates.push(u);
          if (this.leaving && u.id === this.id && u.state === 'left') this.leaveSends++;
        }
      }
      if (updates.length) message = { ...message, updates } as Message;
    }
    this.emitSend(to, message);
  }

  private emitSend(to: string, message: Message): void {
    this.counters.sent[message.type]++;
    this.out.push({ kind: 'send', to, message });
  }

  private emit(event: MemberEvent): void {
    this.out.push({ kind: 'event', event });
  }

  private flush(): Effect[] {
    const out = this.out;
    this.out = [];
    return out;
  }
}
