import { describe, expect, it } from '@jest/globals';
import { TimerQueue } from './timers.js';

describe('TimerQueue', () => {
  it('fires due timers in time then scheduling order, skipping cancelled ones', () => {
    const q = new TimerQueue();
    const fired: string[] = [];
    q.schedule(20, () => fired.push('b'));
    q.schedule(10, () => fired.push('a'));
    q.schedule(20, () => fired.push('c'));
    const x = q.schedule(15, () => fired.push('x'));
    x.cancelled = true;
    q.schedule(30, () => fired.push('late'));
    expect(q.nextAt()).toBe(10);
    q.runDue(25);
    expect(fired).toEqual(['a', 'b', 'c']);
    expect(q.nextAt()).toBe(30);
  });

  it('runs timers scheduled while firing when they are already due', () => {
    const q = new TimerQueue();
    const fired: number[] = [];
    q.schedule(5, () => {
      fired.push(5);
      q.schedule(7, () => fired.push(7));
      q.schedule(50, () => fired.push(50));
    });
    q.runDue(10);
    expect(fired).toEqual([5, 7]);
    expect(q.nextAt()).toBe(50);
    q.clear();
    expect(q.nextAt()).toBeUndefined();
  });

  it('keeps heap order over many random timers', () => {
    const q = new TimerQueue();
    const times: number[] = [];
    let x = 12345;
    for (let i = 0; i < 2000; i++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      const t = x % 10000;
      q.schedule(t, () => times.push(t));
    }
    q.runDue(10000);
    expect(times.length).toBe(2000);
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThanOrEqual(times[i - 1]!);
  });
});
