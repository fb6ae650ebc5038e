/**
 * The core's own timer queue: a binary min-heap of (time, order) with lazy cancellation.
 * The core never sets a real timer; the runtime asks `nextAt()` and calls back.
 */
export interface TimerHandle {
  cancelled: boolean;
}

interface Entry extends TimerHandle {
  at: number;
  order: number;
  fire: () => void;
}

export class TimerQueue {
  private heap: Entry[] = [];
  private order = 0;

  schedule(at: number, fire: () => void): TimerHandle {
    const e: Entry = { at, order: this.order++, fire, cancelled: false };
    this.heap.push(e);
    this.up(this.heap.length - 1);
    return e;
  }

  /** Earliest pending (not cancelled) time, or undefined. */
  nextAt(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.at;
  }

  /** Fires, in time order, every timer due at or before `now` (including ones scheduled while firing). */
  runDue(now: number): void {
    for (;;) {
      this.dropCancelled();
      const top = this.heap[0];
      if (!top || top.at > now) return;
      this.pop();
      top.cancelled = true;
      top.fire();
    }
  }

  clear(): void {
    for (const e of this.heap) e.cancelled = true;
    this.heap = [];
  }

  get size(): number {
    return this.heap.length;
  }

  private dropCancelled(): void {
    while (this.heap.length && this.heap[0]!.cancelled) this.pop();
  }

  private less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.order < b.order);
  }

  private pop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length) {
      this.heap[0] = last;
      this.down(0);
    }
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
