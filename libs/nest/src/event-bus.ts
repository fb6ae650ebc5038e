import { Inject, Injectable } from '@nestjs/common';
import type { MemberEvent } from '@shoal/core';
import type { NodeRuntime } from '@shoal/transport-quic';
import { Observable, Subject } from 'rxjs';
import { SHOAL_OPTIONS, SHOAL_RUNTIME } from './constants.js';
import type { ResolvedShoalOptions } from './options.js';

/**
 * Carries the runtime's member events into RxJS. Events that happen before the application
 * has bootstrapped (a fast join) are held, up to `maxBufferedEvents` (the oldest dropped
 * and counted beyond it), and delivered in order once open() is called at bootstrap, so
 * @OnMemberEvent handlers and early events$ subscribers miss nothing.
 */
@Injectable()
export class ShoalEventBus {
  private readonly subject = new Subject<MemberEvent>();
  private buffer: MemberEvent[] | undefined = [];
  private droppedCount = 0;
  private deliveredCount = 0;
  readonly events$: Observable<MemberEvent> = this.subject.asObservable();
  private readonly listener = (event: MemberEvent): void => this.push(event);

  constructor(
    @Inject(SHOAL_RUNTIME) private readonly runtime: NodeRuntime,
    @Inject(SHOAL_OPTIONS) private readonly options: ResolvedShoalOptions,
  ) {
    runtime.on('member', this.listener);
  }

  /** Events dropped from the pre-bootstrap buffer. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Events handed to subscribers so far. */
  get delivered(): number {
    return this.deliveredCount;
  }

  /** Starts delivery: flushes the held events, then passes new ones straight through. Idempotent. */
  open(): void {
    const held = this.buffer;
    if (!held) return;
    this.buffer = undefined;
    for (const e of held) this.emit(e);
  }

  private push(event: MemberEvent): void {
    if (this.subject.closed) return;
    if (!this.buffer) return this.emit(event);
    if (this.options.maxBufferedEvents === 0) {
      this.droppedCount++;
      return;
    }
    if (this.buffer.length >= this.options.maxBufferedEvents) {
      this.buffer.shift();
      this.droppedCount++;
    }
    this.buffer.push(event);
  }

  private emit(event: MemberEvent): void {
    this.deliveredCount++;
    this.subject.next(event);
  }

  /** Detaches from the runtime and completes events$ (called by the module after the runtime stopped). */
  close(): void {
    this.runtime.off('member', this.listener);
    this.buffer = undefined;
    this.subject.complete();
  }
}
