import { Inject, Injectable } from '@nestjs/common';
import type { Member, MemberEvent, MemberEventType, Tags } from '@shoal/core';
import type { NodeRuntime } from '@shoal/transport-quic';
import { filter, type Observable } from 'rxjs';
import { SHOAL_RUNTIME } from './constants.js';
import { ShoalEventBus } from './event-bus.js';
import { ShoalLifecycle } from './lifecycle.js';
import { toMemberQuery, type MembershipQuery } from './query.js';

/** Tags given to setTags() are not an object of string values. */
export class InvalidTagsError extends TypeError {
  constructor(readonly key: string | undefined, message: string) {
    super(message);
    this.name = 'InvalidTagsError';
  }
}

/**
 * The face of the cluster for applications: who is there, this node's tags, leaving, and
 * member events as an RxJS stream (hot; events from before bootstrap are replayed once at
 * bootstrap, see ShoalEventBus).
 */
@Injectable()
export class ClusterMembership {
  /** Every member event (joined, alive, suspect, failed, left, updated); completes at shutdown. */
  readonly events$: Observable<MemberEvent>;

  constructor(
    @Inject(SHOAL_RUNTIME) private readonly runtime: NodeRuntime,
    bus: ShoalEventBus,
    private readonly lifecycle: ShoalLifecycle,
  ) {
    this.events$ = bus.events$;
  }

  /** This node as the cluster sees it. */
  get self(): Member {
    return this.runtime.self();
  }

  get id(): string {
    return this.runtime.id;
  }

  /** The advertised "host:port" of this node. */
  get address(): string {
    return this.runtime.address;
  }

  /** Members (this node included) matching `{ tags, states }`; throws MemberQueryError on a bad query. */
  members(query?: MembershipQuery): Member[] {
    return this.runtime.members(toMemberQuery(query));
  }

  member(id: string): Member | undefined {
    return this.runtime.member(id);
  }

  /** The events of the given types only. */
  on(types: MemberEventType | readonly MemberEventType[]): Observable<MemberEvent> {
    const set = new Set<string>(typeof types === 'string' ? [types] : types);
    return this.events$.pipe(filter((e) => set.has(e.type)));
  }

  /**
   * Replaces this node's tags; the change spreads with incarnation + 1. Throws
   * InvalidTagsError for non-string values and RangeError over config.maxTagsBytes.
   */
  setTags(tags: Tags): Member {
    if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) throw new InvalidTagsError(undefined, 'tags must be an object of string values');
    for (const [k, v] of Object.entries(tags)) {
      if (!k) throw new InvalidTagsError(k, 'tag keys must not be empty');
      if (typeof v !== 'string') throw new InvalidTagsError(k, `tag "${k}" must have a string value`);
    }
    this.runtime.setTags({ ...tags });
    return this.runtime.self();
  }

  /**
   * Leaves the cluster gracefully: resolves once the leave has spread or config.leaveTimeoutMs
   * passed. The node stays up (and answers) until the application closes; it is no longer ready.
   */
  leave(): Promise<void> {
    return this.runtime.leave();
  }

  /** Joined, not leaving, not shutting down (the health score is checked by ShoalHealthIndicator). */
  isReady(): boolean {
    return this.runtime.isReady() && !this.lifecycle.shuttingDown;
  }
}
