/**
 * Admin API input, checked by the global ValidationPipe (400 with the reasons).
 */
import { Transform } from 'class-transformer';
import { IsArray, IsDefined, IsIn, IsOptional, IsString, ValidateBy, type ValidationOptions } from 'class-validator';
import { MEMBER_STATES, parseTagSelector, type MemberState } from '@shoal/core';
import { TAG_KEY_PATTERN } from '../flags.js';

/** Most selectors or states in one members query. */
export const MAX_QUERY_ITEMS = 32;
/** Most tags in one PUT /v1/self/tags (their total size is bounded by maxTagsBytes too). */
export const MAX_TAGS_PER_REQUEST = 64;

const toList = ({ value }: { value: unknown }): unknown => (value === undefined ? undefined : Array.isArray(value) ? value : [value]);

function IsTagSelector(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isTagSelector',
      validator: {
        validate: (v: unknown) => {
          if (typeof v !== 'string') return false;
          try {
            parseTagSelector(v);
            return true;
          } catch {
            return false;
          }
        },
        defaultMessage: () => 'each tag must be a selector: key=value, key!=value, key (has it) or !key (lacks it)',
      },
    },
    options,
  );
}

function MaxItems(max: number): PropertyDecorator {
  return ValidateBy({
    name: 'maxItems',
    validator: { validate: (v: unknown) => Array.isArray(v) && v.length <= max, defaultMessage: (a) => `${a?.property} takes at most ${max} values` },
  });
}

/** GET /v1/members?tag=role=api&tag=zone!=eu-1&state=alive&state=suspect */
export class MembersQuery {
  @IsOptional() @Transform(toList) @IsArray() @MaxItems(MAX_QUERY_ITEMS) @IsString({ each: true }) @IsTagSelector({ each: true })
  tag?: string[];

  @IsOptional() @Transform(toList) @IsArray() @MaxItems(MAX_QUERY_ITEMS) @IsIn(MEMBER_STATES, { each: true, message: `each state must be one of ${MEMBER_STATES.join(', ')}` })
  state?: MemberState[];
}

function IsTagMap(options?: ValidationOptions): PropertyDecorator {
  const problem = (v: unknown): string | undefined => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'tags must be an object of string values';
    const entries = Object.entries(v);
    if (entries.length > MAX_TAGS_PER_REQUEST) return `tags takes at most ${MAX_TAGS_PER_REQUEST} keys`;
    for (const [k, x] of entries) {
      if (!TAG_KEY_PATTERN.test(k)) return `tag key ${JSON.stringify(k)} may hold only letters, digits and . _ / - (1-128 characters)`;
      if (typeof x !== 'string') return `tag ${JSON.stringify(k)} must have a string value`;
      // eslint-disable-next-line no-control-regex
      if (/[\u0000-\u001f\u007f]/.test(x)) return `tag ${JSON.stringify(k)} has control characters in its value`;
    }
    return undefined;
  };
  return ValidateBy({ name: 'isTagMap', validator: { validate: (v) => problem(v) === undefined, defaultMessage: (a) => problem(a?.value) ?? 'invalid tags' } }, options);
}

/** PUT /v1/self/tags { "tags": { "role": "api" } } — replaces this node's tags. */
export class SetTagsBody {
  @IsDefined({ message: 'tags is required' }) @IsTagMap()
  tags!: Record<string, string>;
}
