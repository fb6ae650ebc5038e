import { SetMetadata } from '@nestjs/common';
import type { MemberEventType } from '@shoal/core';
import { SHOAL_MEMBER_EVENT_METADATA } from './constants.js';

/** Every member event type, in a stable order. */
export const MEMBER_EVENT_TYPES: readonly MemberEventType[] = ['joined', 'alive', 'suspect', 'failed', 'left', 'updated'];

/**
 * Marks a method of a provider or controller as a handler of member events of the given
 * type(s) ('joined', 'alive', 'suspect', 'failed', 'left', 'updated'; none = all). Found at
 * bootstrap; the method is called with the MemberEvent. A handler that throws or rejects is
 * logged and keeps receiving later events. Only singleton (statically scoped) providers.
 */
export function OnMemberEvent(...types: (MemberEventType | readonly MemberEventType[])[]): MethodDecorator {
  const flat = types.flat() as MemberEventType[];
  for (const t of flat)
    if (!MEMBER_EVENT_TYPES.includes(t)) throw new TypeError(`@OnMemberEvent: unknown event type ${JSON.stringify(t)} (one of ${MEMBER_EVENT_TYPES.join(', ')})`);
  return SetMetadata(SHOAL_MEMBER_EVENT_METADATA, flat.length ? [...new Set(flat)] : [...MEMBER_EVENT_TYPES]);
}
