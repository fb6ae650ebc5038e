import { describe, expect, it } from '@jest/globals';
import { EventEmitter } from 'node:events';
import type { MemberEvent } from '@shoal/core';
import type { NodeRuntime } from '@shoal/transport-quic';
import { ShoalEventBus } from './event-bus.js';
import type { ResolvedShoalOptions } from './options.js';

function event(id: string, type: MemberEvent['type'] = 'joined'): MemberEvent {
  return { type, time: 0, member: { id, address: '127.0.0.1:1', incarnation: 0, state: 'alive', tags: {}, stateChangedAt: 0 } };
}

function bus(maxBufferedEvents: number): { emitter: EventEmitter; bus: ShoalEventBus } {
  const emitter = new EventEmitter();
  return { emitter, bus: new ShoalEventBus(emitter as unknown as NodeRuntime, { maxBufferedEvents } as ResolvedShoalOptions) };
}

describe('ShoalEventBus', () => {
  it('holds events until open(), then delivers them in order, then passes new ones through', () => {
    const { emitter, bus: b } = bus(10);
    const seen: string[] = [];
    b.events$.subscribe((e) => seen.push(e.member.id));
    emitter.emit('member', event('a'));
    emitter.emit('member', event('b'));
    expect(seen).toEqual([]);
    b.open();
    expect(seen).toEqual(['a', 'b']);
    emitter.emit('member', event('c'));
    b.open();
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(b.delivered).toBe(3);
  });

  it('drops the oldest held events beyond maxBufferedEvents and counts them', () => {
    const { emitter, bus: b } = bus(2);
    const seen: string[] = [];
    b.events$.subscribe((e) => seen.push(e.member.id));
    for (const id of ['a', 'b', 'c', 'd']) emitter.emit('member', event(id));
    b.open();
    expect(seen).toEqual(['c', 'd']);
    expect(b.dropped).toBe(2);
  });

  it('close() detaches from the runtime and completes the stream', () => {
    const { emitter, bus: b } = bus(2);
    let completed = false;
    b.events$.subscribe({ complete: () => (completed = true) });
    b.open();
    b.close();
    expect(completed).toBe(true);
    expect(emitter.listenerCount('member')).toBe(0);
  });
});
