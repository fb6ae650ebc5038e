/** Injection token of the running NodeRuntime (from @shoal/transport-quic) of a ShoalModule. */
export const SHOAL_RUNTIME = Symbol.for('shoal:runtime');

/** Injection token of the validated, defaulted options (a ResolvedShoalOptions). */
export const SHOAL_OPTIONS = Symbol.for('shoal:options');

/** Metadata key written by @OnMemberEvent(). */
export const SHOAL_MEMBER_EVENT_METADATA = 'shoal:on-member-event';
