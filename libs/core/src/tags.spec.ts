import { describe, expect, it } from '@jest/globals';
import { matchesTag, parseTagPair, parseTagSelector, TagSelectorError } from './tags.js';
import { tagsSize } from './member.js';

describe('tag selectors', () => {
  it.each([
    ['role=api', { key: 'role', op: 'eq', value: 'api' }],
    ['role!=api', { key: 'role', op: 'neq', value: 'api' }],
    ['gpu', { key: 'gpu', op: 'exists' }],
    ['!draining', { key: 'draining', op: 'absent' }],
    ['v=a=b', { key: 'v', op: 'eq', value: 'a=b' }],
    ['empty=', { key: 'empty', op: 'eq', value: '' }],
  ])('parses %s', (input, sel) => {
    expect(parseTagSelector(input)).toEqual(sel);
  });

  it.each(['', '  ', '=x', '!=x', '!'])('rejects %j with a typed error', (input) => {
    expect(() => parseTagSelector(input)).toThrow(TagSelectorError);
  });

  it('matches', () => {
    const tags = { role: 'api', zone: 'eu' };
    expect(matchesTag(tags, parseTagSelector('role=api'))).toBe(true);
    expect(matchesTag(tags, parseTagSelector('role=db'))).toBe(false);
    expect(matchesTag(tags, parseTagSelector('role!=db'))).toBe(true);
    expect(matchesTag(tags, parseTagSelector('gpu!=yes'))).toBe(true);
    expect(matchesTag(tags, parseTagSelector('zone'))).toBe(true);
    expect(matchesTag(tags, parseTagSelector('!zone'))).toBe(false);
    expect(matchesTag({}, parseTagSelector('constructor'))).toBe(false);
  });

  it('parses key=value pairs and measures tags in UTF-8 bytes', () => {
    expect(parseTagPair('a=b=c')).toEqual(['a', 'b=c']);
    expect(() => parseTagPair('novalue')).toThrow(TagSelectorError);
    expect(tagsSize({ ab: 'cd' })).toBe(4);
    expect(tagsSize({ k: 'é' })).toBe(3);
    expect(tagsSize({ k: '😀' })).toBe(5);
  });
});
