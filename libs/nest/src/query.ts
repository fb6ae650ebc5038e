import { MEMBER_STATES, parseTagSelector, TagSelectorError, type MemberQuery, type MemberState, type TagSelector } from '@shoal/core';

/**
 * How applications ask for members. Tags are selector strings ('role=api', 'zone!=eu-1',
 * 'gpu' = has the tag, '!draining' = lacks it) or TagSelector objects; a member must match
 * all of them. States default to all.
 */
export interface MembershipQuery {
  tags?: string | TagSelector | readonly (string | TagSelector)[];
  states?: MemberState | readonly MemberState[];
}

/** A query could not be understood; `key` is 'tags' or 'states'. */
export class MemberQueryError extends Error {
  constructor(
    readonly key: 'tags' | 'states',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`invalid member query ${key}: ${message}`, options);
    this.name = 'MemberQueryError';
  }
}

const OPS = new Set(['eq', 'neq', 'exists', 'absent']);

function toSelector(s: unknown): TagSelector {
  if (typeof s === 'string') {
    try {
      return parseTagSelector(s);
    } catch (e) {
      if (e instanceof TagSelectorError) throw new MemberQueryError('tags', e.message, { cause: e });
      throw e;
    }
  }
  const o = s as Partial<{ key: unknown; op: unknown; value: unknown }> | null;
  if (o && typeof o === 'object' && typeof o.key === 'string' && o.key && typeof o.op === 'string' && OPS.has(o.op)) {
    if ((o.op === 'eq' || o.op === 'neq') && typeof o.value !== 'string') throw new MemberQueryError('tags', `selector on "${o.key}" needs a string value`);
    return o as TagSelector;
  }
  throw new MemberQueryError('tags', `expected a selector string or { key, op, value? }, got ${JSON.stringify(s)}`);
}

/** Turns a MembershipQuery into the core's MemberQuery; throws MemberQueryError on bad input. */
export function toMemberQuery(q: MembershipQuery = {}): MemberQuery {
  const out: { tags?: TagSelector[]; states?: MemberState[] } = {};
  if (q.tags !== undefined) {
    const list = Array.isArray(q.tags) ? q.tags : [q.tags];
    out.tags = list.map(toSelector);
  }
  if (q.states !== undefined) {
    const list = (Array.isArray(q.states) ? q.states : [q.states]) as unknown[];
    for (const s of list)
      if (!MEMBER_STATES.includes(s as MemberState)) throw new MemberQueryError('states', `unknown state ${JSON.stringify(s)} (one of ${MEMBER_STATES.join(', ')})`);
    out.states = list as MemberState[];
  }
  return out;
}
