/**
 * A tiny stand-in protocol for testing the simulator itself: every `periodMs` it pings each
 * address it knows; it acks every ping and remembers every message it received.
 */
import type { Effect, Member, Message, SwimNodeOptions, Tags } from '@shoal/core';
import type { SimulatedNode } from '../src/index.js';

export class ToyNode implements SimulatedNode {
  readonly id: string;
  readonly address: string;
  readonly received: { at: number; message: Message }[] = [];
  private peers: string[] = [];
  private next: number | undefined;
  private seq = 0;
  private tags: Tags;
  private leaving = false;
  stopped = false;
  /** Effects handed out (before anything else) by the next tick that sends pings. */
  inject: Effect[] = [];

  constructor(
    private readonly opts: SwimNodeOptions,
    private readonly periodMs = 1000,
  ) {
    this.id = opts.id;
    this.address = opts.address;
    this.tags = opts.tags ?? {};
  }

  start(): Effect[] {
    this.next = this.opts.clock.now() + this.periodMs;
    return [];
  }
  join(seeds: readonly string[]): Effect[] {
    for (const s of seeds) if (!this.peers.includes(s)) this.peers.push(s);
    return [];
  }
  receive(message: Message): Effect[] {
    this.received.push({ at: this.opts.clock.now(), message });
    if (!this.peers.includes(message.addr)) this.peers.push(message.addr);
    if (message.type === 'ping')
      return [{ kind: 'send', to: message.addr, message: { type: 'ack', from: this.id, addr: this.address, seq: message.seq, updates: [] } }];
    return [];
  }
  tick(): Effect[] {
    const now = this.opts.clock.now();
    if (this.next === undefined || now < this.next) return [];
    this.next += this.periodMs;
    const extra = this.inject;
    this.inject = [];
    return [...extra, ...this.peers.map((to) => ({
      kind: 'send' as const,
      to,
      message: { type: 'ping' as const, from: this.id, addr: this.address, seq: ++this.seq, target: '?', updates: [] },
    }))];
  }
  nextWakeAt(): number | undefined {
    return this.stopped ? undefined : this.next;
  }
  leave(): Effect[] {
    this.leaving = true;
    return [];
  }
  leaveDone(): boolean {
    return this.leaving;
  }
  setTags(tags: Tags): Effect[] {
    this.tags = tags;
    return [];
  }
  stop(): void {
    this.stopped = true;
  }
  self(): Member {
    return { id: this.id, address: this.address, incarnation: 0, state: 'alive', tags: this.tags, stateChangedAt: 0 };
  }
  members(): Member[] {
    return [this.self()];
  }
  member(id: string): Member | undefined {
    return id === this.id ? this.self() : undefined;
  }
}
