/**
 * Member identity and state. A member is known by its id (unique in the cluster), reached
 * at its advertised address ("host:port"), and carries an incarnation that only the
 * member itself ever raises.
 */
export type MemberState = 'alive' | 'suspect' | 'failed' | 'left';

export const MEMBER_STATES: readonly MemberState[] = ['alive', 'suspect', 'failed', 'left'];

/** String key/value pairs a member advertises (service names, roles, versions …). */
export type Tags = Readonly<Record<string, string>>;

/**
 * What one node says about one member at one incarnation: the unit of gossip.
 * `tags` is sent with alive updates and may be left out of the others (the receiver then
 * keeps the tags it knows); `by` names the member that raised a suspicion, so Lifeguard
 * can count independent confirmations.
 */
export interface MemberUpdate {
  readonly id: string;
  readonly address: string;
  readonly incarnation: number;
  readonly state: MemberState;
  readonly tags?: Tags;
  readonly by?: string;
}

/** A member as held in a registry: the winning update plus local bookkeeping. */
export interface Member {
  readonly id: string;
  readonly address: string;
  readonly incarnation: number;
  readonly state: MemberState;
  readonly tags: Tags;
  /** Local clock time (ms) at which this member last changed state. */
  readonly stateChangedAt: number;
}

/** Bytes the tags take on the wire (UTF-8 of keys and values), for the tag-size limit. */
export function tagsSize(tags: Tags): number {
  let size = 0;
  for (const [k, v] of Object.entries(tags)) size += utf8Length(k) + utf8Length(v);
  return size;
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

export function tagsEqual(a: Tags, b: Tags): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => b[k] === a[k]);
}
