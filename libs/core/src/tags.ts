/**
 * Tag selectors: how applications ask for members ("role=api", "zone!=eu-1", "gpu", "!draining").
 */
import type { Tags } from './member.js';

export type TagSelector =
  | { readonly key: string; readonly op: 'eq' | 'neq'; readonly value: string }
  | { readonly key: string; readonly op: 'exists' | 'absent' };

export class TagSelectorError extends Error {
  constructor(readonly input: string, reason: string) {
    super(`invalid tag selector ${JSON.stringify(input)}: ${reason}`);
    this.name = 'TagSelectorError';
  }
}

/** Parses `k=v`, `k!=v`, `k` (exists) and `!k` (absent). */
export function parseTagSelector(input: string): TagSelector {
  const s = input.trim();
  if (!s) throw new TagSelectorError(input, 'empty');
  const neq = s.indexOf('!=');
  if (neq === 0) throw new TagSelectorError(input, 'missing key');
  if (neq > 0) return { key: checkKey(input, s.slice(0, neq)), op: 'neq', value: s.slice(neq + 2) };
  const eq = s.indexOf('=');
  if (eq === 0) throw new TagSelectorError(input, 'missing key');
  if (eq > 0) return { key: checkKey(input, s.slice(0, eq)), op: 'eq', value: s.slice(eq + 1) };
  if (s.startsWith('!')) return { key: checkKey(input, s.slice(1)), op: 'absent' };
  return { key: checkKey(input, s), op: 'exists' };
}

function checkKey(input: string, key: string): string {
  const k = key.trim();
  if (!k) throw new TagSelectorError(input, 'missing key');
  return k;
}

export function matchesTag(tags: Tags, sel: TagSelector): boolean {
  const has = Object.prototype.hasOwnProperty.call(tags, sel.key);
  switch (sel.op) {
    case 'eq':
      return has && tags[sel.key] === sel.value;
    case 'neq':
      return !has || tags[sel.key] !== sel.value;
    case 'exists':
      return has;
    case 'absent':
      return !has;
  }
}

export function matchesAll(tags: Tags, selectors: readonly TagSelector[]): boolean {
  return selectors.every((s) => matchesTag(tags, s));
}

/** Parses `k=v` into a pair (for setting tags from flags and HTTP). */
export function parseTagPair(input: string): [string, string] {
  const eq = input.indexOf('=');
  if (eq <= 0) throw new TagSelectorError(input, 'expected key=value');
  return [input.slice(0, eq).trim(), input.slice(eq + 1)];
}
