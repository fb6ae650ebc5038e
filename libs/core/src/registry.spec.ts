import { describe, expect, it } from '@jest/globals';
import { Registry } from './registry.js';
import { parseTagSelector } from './tags.js';

describe('Registry', () => {
  it('reports joined, suspect, alive, updated, failed and left changes', () => {
    const r = new Registry();
    expect(r.apply({ id: 'a', address: 'a:1', incarnation: 0, state: 'alive', tags: { role: 'api' } }, 1).event?.type).toBe('joined');
    expect(r.apply({ id: 'a', address: 'a:1', incarnation: 0, state: 'suspect' }, 2).event?.type).toBe('suspect');
    const back = r.apply({ id: 'a', address: 'a:1', incarnation: 1, state: 'alive', tags: { role: 'api' } }, 3);
    expect(back.event?.type).toBe('alive');
    expect(back.event?.previous?.state).toBe('suspect');
    expect(r.apply({ id: 'a', address: 'a:1', incarnation: 2, state: 'alive', tags: { role: 'db' } }, 4).event?.type).toBe('updated');
    expect(r.apply({ id: 'a', address: 'a:1', incarnation: 3, state: 'alive', tags: { role: 'db' } }, 5).event).toBeUndefined();
    expect(r.apply({ id: 'a', address: 'a:1', incarnation: 3, state: 'failed' }, 6).event?.type).toBe('failed');
    expect(r.apply({ id: 'a', address: 'a:1', incarnation: 4, state: 'left' }, 7).event?.type).toBe('left');
  });

  it('keeps known tags when an update leaves them out', () => {
    const r = new Registry();
    r.apply({ id: 'a', address: 'a:1', incarnation: 0, state: 'alive', tags: { zone: 'x' } }, 0);
    r.apply({ id: 'a', address: 'a:1', incarnation: 0, state: 'suspect' }, 1);
    expect(r.get('a')!.tags).toEqual({ zone: 'x' });
  });

  it('ignores stale updates and keeps counts by state', () => {
    const r = new Registry();
    r.apply({ id: 'a', address: 'a:1', incarnation: 5, state: 'alive' }, 0);
    r.apply({ id: 'b', address: 'b:1', incarnation: 0, state: 'alive' }, 0);
    expect(r.apply({ id: 'a', address: 'a:1', incarnation: 4, state: 'failed' }, 1).applied).toBe(false);
    r.apply({ id: 'b', address: 'b:1', incarnation: 0, state: 'failed' }, 1);
    expect(r.count('alive')).toBe(1);
    expect(r.count('failed')).toBe(1);
    expect(r.liveCount()).toBe(1);
    r.remove('b');
    expect(r.count('failed')).toBe(0);
    expect(r.size).toBe(1);
  });

  it('queries by state and tag selectors, sorted by id', () => {
    const r = new Registry();
    r.apply({ id: 'c', address: 'c:1', incarnation: 0, state: 'alive', tags: { role: 'api', zone: 'eu' } }, 0);
    r.apply({ id: 'a', address: 'a:1', incarnation: 0, state: 'alive', tags: { role: 'api', zone: 'us' } }, 0);
    r.apply({ id: 'b', address: 'b:1', incarnation: 0, state: 'alive', tags: { role: 'db' } }, 0);
    r.apply({ id: 'b', address: 'b:1', incarnation: 0, state: 'failed' }, 0);
    const ids = (sel: string[], states?: ('alive' | 'failed')[]) =>
      r.query({ tags: sel.map(parseTagSelector), states }).map((m) => m.id);
    expect(ids(['role=api'])).toEqual(['a', 'c']);
    expect(ids(['role=api', 'zone!=eu'])).toEqual(['a']);
    expect(ids(['zone'])).toEqual(['a', 'c']);
    expect(ids(['!zone'])).toEqual(['b']);
    expect(ids([], ['alive'])).toEqual(['a', 'c']);
    expect(ids([], ['failed'])).toEqual(['b']);
  });
});
