import { Inject, Injectable } from '@nestjs/common';
import { MEMBER_STATES, MESSAGE_TYPES } from '@shoal/core';
import type { NodeRuntime } from '@shoal/transport-quic';
import { Counter, Gauge, Histogram, Registry as PromRegistry } from 'prom-client';
import { SHOAL_OPTIONS, SHOAL_RUNTIME } from './constants.js';
import { ShoalEventBus } from './event-bus.js';
import { ShoalHealthIndicator } from './health.indicator.js';
import type { ResolvedShoalOptions } from './options.js';
import { ShoalStatsReader } from './stats-reader.js';

/** Probe RTT histogram buckets, in seconds (0.5 ms … 2.5 s). */
export const PROBE_RTT_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Stats read for one scrape are reused by every metric collected within this window. */
const REFRESH_WINDOW_MS = 100;

/**
 * prom-client metrics of one node, in a registry of their own (never the global default
 * one), so several nodes can live in one process. Gauges and counters are refreshed from
 * the runtime when scraped. Names (prefix "shoal_" by default):
 *   members{state}                   gauge    members per state (this node included)
 *   probes_total                     counter  probes started
 *   probe_failures_total             counter  probes that got no ack, direct or indirect
 *   probe_rtt_seconds                histogram round-trip time of successful direct probes
 *   suspicions_total                 counter  members this node suspected
 *   refutations_total                counter  suspicions of this node it refuted
 *   failures_declared_total          counter  members this node declared failed
 *   local_health_score               gauge    Lifeguard local health score (0 = healthy)
 *   ready                            gauge    1 when the node is ready (see ShoalHealthIndicator)
 *   pool_connections{state}          gauge    pool connections: open, idle, in_use, dialing
 *   bytes_received_total / bytes_sent_total       counter  protocol payload bytes
 *   messages_received_total{type} / messages_sent_total{type}  counter
 *   malformed_messages_total         counter  frames dropped because they did not decode
 *   send_failures_total              counter  sends that could not be carried out
 *   queued_broadcasts                gauge    updates waiting to be piggybacked
 *   dropped_events_total             counter  member events dropped before bootstrap
 */
@Injectable()
export class ShoalMetrics {
  readonly registry = new PromRegistry();
  private lastRefresh = -Infinity;

  private readonly members: Gauge<'state'>;
  private readonly probes: Counter;
  private readonly probeFailures: Counter;
  private readonly rtt: Histogram;
  private readonly suspicions: Counter;
  private readonly refutations: Counter;
  private readonly failuresDeclared: Counter;
  private readonly healthScore: Gauge;
  private readonly ready: Gauge;
  private readonly pool: Gauge<'state'>;
  private readonly bytesIn: Counter;
  private readonly bytesOut: Counter;
  private readonly messagesIn: Counter<'type'>;
  private readonly messagesOut: Counter<'type'>;
  private readonly malformed: Counter;
  private readonly sendFailures: Counter;
  private readonly queued: Gauge;
  private readonly droppedEvents: Counter;
  private readonly datagramPeers: Gauge;
  private readonly unconnected: Counter<'direction'>;

  constructor(
    @Inject(SHOAL_RUNTIME) private readonly runtime: NodeRuntime,
    @Inject(SHOAL_OPTIONS) options: ResolvedShoalOptions,
    private readonly reader: ShoalStatsReader,
    private readonly health: ShoalHealthIndicator,
    private readonly bus: ShoalEventBus,
  ) {
    const p = options.metricsPrefix;
    const registers = [this.registry];
    if (Object.keys(options.metricsDefaultLabels).length) this.registry.setDefaultLabels(options.metricsDefaultLabels);
    const refresh = (): void => this.refresh();
    const gauge = <L extends string>(name: string, help: string, labelNames: L[] = []): Gauge<L> =>
      new Gauge<L>({ name: p + name, help, labelNames, registers, collect: refresh });
    const counter = <L extends string>(name: string, help: string, labelNames: L[] = []): Counter<L> =>
      new Counter<L>({ name: p + name, help, labelNames, registers, collect: refresh });

    this.members = gauge('members', 'Members per state, this node included.', ['state']);
    this.probes = counter('probes_total', 'Probes started.');
    this.probeFailures = counter('probe_failures_total', 'Probes that got no ack, direct or indirect.');
    this.rtt = new Histogram({
      name: p + 'probe_rtt_seconds',
      help: 'Round-trip time of successful direct probes.',
      buckets: PROBE_RTT_BUCKETS_SECONDS,
      registers,
      collect: refresh,
    });
    this.suspicions = counter('suspicions_total', 'Members this node suspected.');
    this.refutations = counter('refutations_total', 'Suspicions of this node that it refuted.');
    this.failuresDeclared = counter('failures_declared_total', 'Members this node declared failed.');
    this.healthScore = gauge('local_health_score', 'Lifeguard local health score (0 = healthy).');
    this.ready = gauge('ready', '1 when the node is ready: joined, healthy, not shutting down.');
    this.pool = gauge('pool_connections', 'Connection pool connections by state.', ['state']);
    this.bytesIn = counter('bytes_received_total', 'Protocol payload bytes received.');
    this.bytesOut = counter('bytes_sent_total', 'Protocol payload bytes sent.');
    this.messagesIn = counter('messages_received_total', 'Protocol messages received, by type.', ['type']);
    this.messagesOut = counter('messages_sent_total', 'Protocol messages sent, by type.', ['type']);
    this.malformed = counter('malformed_messages_total', 'Frames dropped because they did not decode.');
    this.sendFailures = counter('send_failures_total', 'Sends that could not be carried out.');
    this.queued = gauge('queued_broadcasts', 'Updates waiting to be piggybacked.');
    this.droppedEvents = counter('dropped_events_total', 'Member events dropped from the pre-bootstrap buffer.');
    this.datagramPeers = gauge('datagram_peers', 'Peers whose datagram keys are kept: small messages to them need no open connection.');
    this.unconnected = counter('datagrams_unconnected_total', 'Messages sent / received as sealed datagrams with no open connection to the peer.', ['direction']);
  }

  /** The metrics in the Prometheus text format (refreshed first). */
  metrics(): Promise<string> {
    this.lastRefresh = -Infinity;
    return this.registry.metrics();
  }

  /** The Content-Type header to serve metrics() with. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Reads the runtime once per scrape and sets every metric. */
  refresh(): void {
    const now = Date.now();
    if (now - this.lastRefresh < REFRESH_WINDOW_MS) return;
    this.lastRefresh = now;
    const s = this.reader.read();
    for (const ms of this.reader.takeRttSamples()) this.rtt.observe(ms / 1000);
    const byState = Object.fromEntries(MEMBER_STATES.map((st) => [st, 0])) as Record<string, number>;
    for (const m of this.runtime.members()) byState[m.state] = (byState[m.state] ?? 0) + 1;
    for (const st of MEMBER_STATES) this.members.set({ state: st }, byState[st] ?? 0);
    setCounter(this.probes, s.swim.probes);
    setCounter(this.probeFailures, s.swim.probeFailures);
    setCounter(this.suspicions, s.swim.suspicions);
    setCounter(this.refutations, s.swim.refutations);
    setCounter(this.failuresDeclared, s.swim.failuresDeclared);
    this.healthScore.set(s.healthScore);
    this.ready.set(this.health.readiness().ready ? 1 : 0);
    this.pool.set({ state: 'open' }, s.pool.open);
    this.pool.set({ state: 'idle' }, s.pool.idle);
    this.pool.set({ state: 'in_use' }, s.pool.inUse);
    this.pool.set({ state: 'dialing' }, s.pool.dialing);
    setCounter(this.bytesIn, s.runtime.bytesIn);
    setCounter(this.bytesOut, s.runtime.bytesOut);
    for (const t of MESSAGE_TYPES) {
      setCounter(this.messagesIn, s.swim.received[t] ?? 0, { type: t });
      setCounter(this.messagesOut, s.swim.sent[t] ?? 0, { type: t });
    }
    setCounter(this.malformed, s.runtime.malformed);
    setCounter(this.sendFailures, s.runtime.sendFailures);
    this.queued.set(s.queuedBroadcasts);
    setCounter(this.droppedEvents, this.bus.dropped);
    this.datagramPeers.set(s.endpoint.datagramPeers);
    setCounter(this.unconnected, s.endpoint.datagramsOutUnconnected, { direction: 'out' });
    setCounter(this.unconnected, s.endpoint.datagramsInUnconnected, { direction: 'in' });
  }
}

/** Last total set per counter and label set. */
const lastTotals = new WeakMap<object, Map<string, number>>();

/** Moves a counter to a cumulative total kept by the runtime (counters only go up). */
function setCounter<L extends string>(c: Counter<L>, total: number, labels?: Partial<Record<L, string>>): void {
  let byLabels = lastTotals.get(c);
  if (!byLabels) lastTotals.set(c, (byLabels = new Map()));
  const key = labels ? JSON.stringify(labels) : '';
  const delta = total - (byLabels.get(key) ?? 0);
  byLabels.set(key, total);
  if (delta > 0) {
    if (labels) c.inc(labels, delta);
    else c.inc(delta);
  } else if (delta < 0) {
    // The source went backwards (cannot happen with one runtime per registry): follow it.
    if (labels) {
      c.remove(labels);
      c.inc(labels, total);
    } else {
      c.reset();
      c.inc(total);
    }
  }
}
