/**
 * What the core asks the outside world to do. The core never performs I/O: every call
 * into a SwimNode returns a list of effects for the runtime (or the simulator) to carry out.
 */
import type { Member } from './member.js';
import type { Message } from './messages.js';

export type MemberEventType = 'joined' | 'alive' | 'suspect' | 'failed' | 'left' | 'updated';

export interface MemberEvent {
  readonly type: MemberEventType;
  /** The member as it is after the change. */
  readonly member: Member;
  /** The member as it was before (absent for `joined`). */
  readonly previous?: Member;
  /** Clock time (ms) of the change. */
  readonly time: number;
}

/** Send one message to one address ("host:port"). Delivery is best-effort. */
export interface SendEffect {
  readonly kind: 'send';
  readonly to: string;
  readonly message: Message;
}

/** A change in the member table, for applications, logs and metrics. */
export interface EventEffect {
  readonly kind: 'event';
  readonly event: MemberEvent;
}

export type Effect = SendEffect | EventEffect;
