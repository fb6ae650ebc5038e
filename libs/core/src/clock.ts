/**
 * Time, as the core sees it. The core never reads the wall clock itself: the runtime
 * passes a real clock, the simulator a fake one. Values are milliseconds.
 */
export interface Clock {
  now(): number;
}

/** A clock whose time only moves when told to: for tests and the simulator. */
export class ManualClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  set(t: number): void {
    if (t < this.t) throw new RangeError(`ManualClock cannot go backwards (${t} < ${this.t})`);
    this.t = t;
  }
  advance(ms: number): void {
    this.set(this.t + ms);
  }
}
