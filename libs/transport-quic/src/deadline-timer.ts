/**
 * The one real timer that drives a pure protocol core: armed for the core's next deadline
 * (`nextWakeAt()`), it calls `onDue` (which ticks the core and arms again).
 *
 * - Never moved later: Node wakes at a cleared timer's time anyway (it does not re-arm its
 *   loop timer on clearTimeout), so an early timer that finds nothing due costs no more than
 *   clearing it would, and re-arming on every message costs more.
 * - Armed TIMER_SLACK_MS past the deadline: Node starts a timer from the event loop's
 *   cached time, which lags real time by however long the current callback has run (a
 *   datagram's handling takes a few ms on a cold VM). Without slack the timer fires that
 *   much before the deadline, the core finds nothing due, and the process wakes a second
 *   time 1 ms later. Each wake-up costs ~0.5-1 ms of CPU here, so the slack is worth a few
 *   ms of lateness on deadlines measured in hundreds of ms.
 */
import type { Clock } from '@shoal/core';

export const TIMER_SLACK_MS = 4;

/**
 * The runtime's default clock: epoch milliseconds with sub-millisecond resolution (probe
 * round trips on a LAN are a fraction of a millisecond; with Date.now() every sample would
 * be a whole 0, 1 or 2). performance.now() is monotonic; the offset only ever grows, to
 * keep it from falling behind Date.now() (a wall clock stepped forward moves it forward too;
 * one stepped back does not move it back).
 */
export function preciseClock(): Clock {
  let offset = performance.timeOrigin;
  return {
    now: () => {
      const p = performance.now();
      const d = Date.now();
      if (p + offset < d) offset = d - p;
      return p + offset;
    },
  };
}

export class DeadlineTimer {
  private timer: NodeJS.Timeout | undefined;
  private at = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly onDue: () => void,
  ) {}

  /** Arms for `at` (the clock's ms) unless already armed for that time or an earlier one. */
  arm(at: number | undefined): void {
    if (at === undefined || (this.timer && at >= this.at)) return;
    if (this.timer) clearTimeout(this.timer);
    this.at = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.at = Infinity;
        this.onDue();
      },
      Math.max(0, Math.ceil(at - this.clock.now())) + TIMER_SLACK_MS,
    );
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.at = Infinity;
  }
}
