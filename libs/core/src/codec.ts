/**
 * The wire codec: every message is a 2-byte header (PROTOCOL_VERSION, type code) followed
 * by one MessagePack array holding the message's fields by position (no key names).
 *
 * Bodies (field order is the wire format; change it only with a new PROTOCOL_VERSION):
 *   1 ping      [from, addr, seq, target, updates]
 *   2 ack       [from, addr, seq, updates]
 *   3 ping-req  [from, addr, seq, target, targetAddr, wantNack, updates]
 *   4 nack      [from, addr, seq]
 *   5 gossip    [from, addr, updates]
 *   6 push-pull [from, addr, join, reply, members]
 * An update is [id, address, incarnation, stateCode] with tags appended when present, and
 * `by` after them (tags then written as nil when absent): 4, 5 or 6 elements. stateCode
 * is the index in MEMBER_STATES. Tags are a MessagePack map of string to string.
 *
 * The body is standard MessagePack, so any MessagePack tool can read it, but both sides
 * are written here instead of with msgpackr: msgpackr's decoder cannot be made safe for
 * hostile input by options. Its extension table is process-global and always on (a
 * timestamp becomes a Date; Set, RegExp, Error, BigInt and typed-array extensions too, and
 * any other module's addExtension() changes what our decoder yields), record definitions
 * are decoded even with `useRecords: false` (their readers are compiled with `new Function`),
 * and a `__proto__` map key is silently renamed. Making it safe would take a full
 * validating pre-scan of the bytes, which is this decoder already. The decoder below
 * accepts only the MessagePack types the format uses, builds the Message directly, never
 * recurses, and never allocates more than the input could fill.
 *
 * Pure: no I/O, no timers, no ambient state besides the per-update size cache.
 */
import { MEMBER_STATES, type MemberState, type MemberUpdate, type Tags } from './member.js';
import { PROTOCOL_VERSION, type Message, type MessageType } from './messages.js';

/** Size limits enforced by encode and decode. All are byte counts or counts. */
export interface CodecLimits {
  /** Largest whole encoded message (header included). Decode checks it before parsing. */
  maxMessageBytes: number;
  /** Most updates (or push-pull members) in one message. */
  maxUpdates: number;
  /** Longest member id (UTF-8 bytes): `from`, `target`, an update's `id` and `by`. */
  maxIdBytes: number;
  /** Longest address "host:port" (UTF-8 bytes): `addr`, `targetAddr`, an update's `address`. */
  maxAddressBytes: number;
  /** Largest total UTF-8 bytes of one update's tag keys plus values. */
  maxTagsBytes: number;
  /** Most tag pairs on one update. */
  maxTags: number;
}

export const DEFAULT_CODEC_LIMITS: Readonly<CodecLimits> = Object.freeze({
  maxMessageBytes: 8 * 1024 * 1024,
  maxUpdates: 100_000,
  maxIdBytes: 128,
  maxAddressBytes: 262,
  maxTagsBytes: 65_536,
  maxTags: 256,
});

/** Smallest value each limit may take; every limit is an integer no larger than 2^32 - 1. */
const LIMIT_MIN: Readonly<Record<keyof CodecLimits, number>> = {
  maxMessageBytes: 3,
  maxUpdates: 0,
  maxIdBytes: 1,
  maxAddressBytes: 1,
  maxTagsBytes: 0,
  maxTags: 0,
};

/** Limit objects returned by resolveCodecLimits (frozen): passed back in, they are used as they are. */
const RESOLVED_LIMITS = new WeakSet<object>([DEFAULT_CODEC_LIMITS]);

/**
 * Merges `partial` over DEFAULT_CODEC_LIMITS and validates the result (frozen).
 * Throws a RangeError naming the offending key. A result of this function passed back in
 * (or to encode / decode) is returned as it is: callers that encode or decode often
 * resolve their limits once. Resolving costs little when warm, but a node wakes a few times
 * a second and then runs everything cold: on the benchmark VM an ack's encode took 330-550 µs
 * when an earlier resolver (an object spread and a loop) ran on every call, 50-200 µs
 * without it (tools/bench/transport/cold-ops.ts).
 */
export function resolveCodecLimits(partial?: Partial<CodecLimits>): Readonly<CodecLimits> {
  if (partial === undefined) return DEFAULT_CODEC_LIMITS;
  if (RESOLVED_LIMITS.has(partial)) return partial as Readonly<CodecLimits>;
  const out: CodecLimits = {
    maxMessageBytes: limitOf(partial, 'maxMessageBytes'),
    maxUpdates: limitOf(partial, 'maxUpdates'),
    maxIdBytes: limitOf(partial, 'maxIdBytes'),
    maxAddressBytes: limitOf(partial, 'maxAddressBytes'),
    maxTagsBytes: limitOf(partial, 'maxTagsBytes'),
    maxTags: limitOf(partial, 'maxTags'),
  };
  Object.freeze(out);
  RESOLVED_LIMITS.add(out);
  return out;
}

function limitOf(partial: Partial<CodecLimits>, key: keyof CodecLimits): number {
  const v = partial[key];
  if (v === undefined) return DEFAULT_CODEC_LIMITS[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < LIMIT_MIN[key] || v > 0xffffffff)
    throw new RangeError(`invalid codec limit ${key}=${String(v)}: must be an integer in [${LIMIT_MIN[key]}, 4294967295]`);
  return v;
}

export type DecodeReason =
  /** Input is not a Uint8Array, or the limits passed are invalid. */
  | 'input'
  /** Input longer than maxMessageBytes (checked before parsing). */
  | 'too-large'
  /** Input ended inside the header or a value. */
  | 'truncated'
  /** Bytes left over after the message. */
  | 'trailing'
  /** Header version is not PROTOCOL_VERSION. */
  | 'version'
  /** Unknown message type code. */
  | 'type'
  /** A value of the wrong MessagePack type, or an array with the wrong number of fields. */
  | 'shape'
  /** A string that is not valid UTF-8. */
  | 'utf8'
  /** A string, list or tag set over its limit. */
  | 'limit'
  /** An integer out of range (seq not uint32, incarnation not a non-negative safe integer). */
  | 'integer'
  /** Unknown member state code. */
  | 'state'
  /** Bad tags: duplicate key or the key `__proto__`. */
  | 'tags'
  /** A bug in the decoder (any unexpected exception is reported as this). */
  | 'internal';

/** The one error type decode throws. `offset` is the byte offset where decoding stopped. */
export class DecodeError extends Error {
  constructor(
    readonly reason: DecodeReason,
    message: string,
    readonly offset = -1,
    options?: { cause?: unknown },
  ) {
    super(`cannot decode message (${reason}${offset >= 0 ? ` at byte ${offset}` : ''}): ${message}`, options);
    this.name = 'DecodeError';
  }
}

export type EncodeReason = 'invalid' | 'limit' | 'too-large';

/** Encode of an invalid message (wrong types, bad strings) or one over a limit. */
export class EncodeError extends Error {
  constructor(
    readonly reason: EncodeReason,
    message: string,
  ) {
    super(`cannot encode message (${reason}): ${message}`);
    this.name = 'EncodeError';
  }
}

// ---------------------------------------------------------------------------------------
// Type codes

const TYPE_CODE: Readonly<Record<MessageType, number>> = {
  ping: 1,
  ack: 2,
  'ping-req': 3,
  nack: 4,
  gossip: 5,
  'push-pull': 6,
};
/** Number of fields in each message's body array. */
const BODY_FIELDS: Readonly<Record<MessageType, number>> = {
  ping: 5,
  ack: 4,
  'ping-req': 7,
  nack: 3,
  gossip: 3,
  'push-pull': 5,
};
const STATE_CODE: Readonly<Record<MemberState, number>> = { alive: 0, suspect: 1, failed: 2, left: 3 };
for (const [i, s] of MEMBER_STATES.entries()) if (STATE_CODE[s] !== i) throw new Error('codec: MEMBER_STATES order changed');

/** Header: version byte and type code byte. */
const HEADER_BYTES = 2;
/** The update-list header is reserved at its largest (array32) in baseWireSize. */
const LIST_HEADER_RESERVE = 5;
/** Smallest encoded update: fixarray(4), two empty fixstr, fixint incarnation, fixint state. */
const MIN_UPDATE_BYTES = 5;

// ---------------------------------------------------------------------------------------
// Sizes

/** UTF-8 length of a string, or -1 if it holds a lone surrogate (not encodable exactly). */
function utf8Length(s: string): number {
  const n = s.length;
  let len = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) len += 1;
    else if (c < 0xd800 || c > 0xdfff) len += 2;
    else {
      if (c > 0xdbff || i + 1 >= n) return -1;
      const d = s.charCodeAt(i + 1);
      if (d < 0xdc00 || d > 0xdfff) return -1;
      len += 2; // 4 bytes for 2 UTF-16 units
      i++;
    }
  }
  return len;
}

function strHeaderSize(byteLen: number): number {
  return byteLen < 32 ? 1 : byteLen < 0x100 ? 2 : byteLen < 0x10000 ? 3 : 5;
}

function uintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x100 ? 2 : v < 0x10000 ? 3 : v <= 0xffffffff ? 5 : 9;
}

function collHeaderSize(n: number): number {
  return n < 16 ? 1 : n < 0x10000 ? 3 : 5;
}

/** What encode needs to know about one update; cached by object identity. */
interface UpdateInfo {
  size: number;
  idLen: number;
  addrLen: number;
  /** -1 when `by` is absent. */
  byLen: number;
  /** -1 when tags are absent. */
  tagCount: number;
  tagBytes: number;
}

const updateInfoCache = new WeakMap<MemberUpdate, UpdateInfo>();

function invalid(what: string): never {
  throw new EncodeError('invalid', what);
}

function strLen(s: unknown, what: string): number {
  if (typeof s !== 'string') invalid(`${what} must be a string`);
  const len = utf8Length(s);
  if (len < 0) invalid(`${what} holds a lone UTF-16 surrogate`);
  return len;
}

function computeUpdateInfo(u: MemberUpdate): UpdateInfo {
  if (typeof u !== 'object' || u === null) invalid('update must be an object');
  const idLen = strLen(u.id, 'update id');
  const addrLen = strLen(u.address, 'update address');
  const inc = u.incarnation;
  if (typeof inc !== 'number' || !Number.isSafeInteger(inc) || inc < 0)
    invalid(`update incarnation must be a non-negative safe integer, got ${String(inc)}`);
  if (typeof u.state !== 'string' || !Object.hasOwn(STATE_CODE, u.state)) invalid(`unknown member state ${String(u.state)}`);
  let size = 1 + strHeaderSize(idLen) + idLen + strHeaderSize(addrLen) + addrLen + uintSize(inc) + 1;
  let tagCount = -1;
  let tagBytes = 0;
  const tags = u.tags;
  if (tags !== undefined) {
    const proto: unknown = typeof tags === 'object' && tags !== null ? Object.getPrototypeOf(tags) : undefined;
    if (proto !== Object.prototype && proto !== null) invalid('update tags must be a plain object');
    const keys = Object.keys(tags);
    tagCount = keys.length;
    size += collHeaderSize(tagCount);
    for (const k of keys) {
      if (k === '__proto__') invalid('tag key __proto__ is not allowed');
      const kl = strLen(k, 'tag key');
      const vl = strLen((tags as Record<string, unknown>)[k], `tag ${JSON.stringify(k)}`);
      tagBytes += kl + vl;
      size += strHeaderSize(kl) + kl + strHeaderSize(vl) + vl;
    }
  }
  let byLen = -1;
  if (u.by !== undefined) {
    byLen = strLen(u.by, 'update by');
    size += strHeaderSize(byLen) + byLen + (tags === undefined ? 1 : 0);
  }
  return { size, idLen, addrLen, byLen, tagCount, tagBytes };
}

function updateInfo(u: MemberUpdate): UpdateInfo {
  let info = updateInfoCache.get(u);
  if (info === undefined) {
    info = computeUpdateInfo(u);
    updateInfoCache.set(u, info);
  }
  return info;
}

/**
 * Exact number of bytes `update` adds to an encoded message's update list. Cached by
 * object identity: updates are immutable (their type is readonly); do not mutate one after
 * it has been sized or encoded. Throws EncodeError for a structurally invalid update
 * (limits are checked by encode, which knows them).
 */
export function updateWireSize(update: MemberUpdate): number {
  return updateInfo(update).size;
}

/**
 * Size of everything but the update list's entries, with the list header counted at
 * LIST_HEADER_RESERVE. Checks field types always, and limits when `lim` is given.
 */
function fixedSize(m: Message, lim: Readonly<CodecLimits> | null): number {
  if (typeof m !== 'object' || m === null) invalid('message must be an object');
  const maxId = lim === null ? Infinity : lim.maxIdBytes;
  const maxAddr = lim === null ? Infinity : lim.maxAddressBytes;
  let size = HEADER_BYTES + 1; // header + body fixarray
  size += sizedStr(m.from, maxId, 'from') + sizedStr(m.addr, maxAddr, 'addr');
  switch (m.type) {
    case 'ping':
      size += seqSize(m.seq) + sizedStr(m.target, maxId, 'target') + LIST_HEADER_RESERVE;
      break;
    case 'ack':
      size += seqSize(m.seq) + LIST_HEADER_RESERVE;
      break;
    case 'ping-req':
      checkBool(m.wantNack, 'wantNack');
      size += seqSize(m.seq) + sizedStr(m.target, maxId, 'target') + sizedStr(m.targetAddr, maxAddr, 'targetAddr');
      size += 1 + LIST_HEADER_RESERVE;
      break;
    case 'nack':
      size += seqSize(m.seq);
      break;
    case 'gossip':
      size += LIST_HEADER_RESERVE;
      break;
    case 'push-pull':
      checkBool(m.join, 'join');
      checkBool(m.reply, 'reply');
      size += 2 + LIST_HEADER_RESERVE;
      break;
    default:
      invalid(`unknown message type ${String((m as { type?: unknown }).type)}`);
  }
  return size;
}

/**
 * Upper bound of the encoded size of `message` with an empty update/member list: exact
 * except that the list header is counted at its largest (5 bytes; the real header takes 1
 * byte up to 15 entries, 3 up to 65535), so that
 * `encode(m).length <= baseWireSize(m) + sum(updateWireSize(u))` always holds, within 4
 * bytes. Its `updates`/`members` are ignored. Throws EncodeError for a field of the wrong type.
 */
export function baseWireSize(message: Message): number {
  return fixedSize(message, null);
}

/** Header plus bytes of a string field, checking its type and limit. */
function sizedStr(s: unknown, max: number, what: string): number {
  const l = strLen(s, what);
  if (l > max) throw new EncodeError('limit', `${what} is ${l} bytes, limit ${max}`);
  return strHeaderSize(l) + l;
}

function seqSize(seq: unknown): number {
  if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0 || seq > 0xffffffff)
    invalid(`seq must be a uint32, got ${String(seq)}`);
  return uintSize(seq);
}

function checkBool(b: unknown, what: string): void {
  if (typeof b !== 'boolean') invalid(`${what} must be a boolean`);
}

// ---------------------------------------------------------------------------------------
// Encode

function checkLen(len: number, max: number, what: string): void {
  if (len > max) throw new EncodeError('limit', `${what} is ${len} bytes, limit ${max}`);
}

function updatesOf(m: Message): readonly MemberUpdate[] | null {
  switch (m.type) {
    case 'push-pull':
      return m.members;
    case 'nack':
      return null;
    default:
      return m.updates;
  }
}

class Writer {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  uint(v: number): void {
    const buf = this.buf;
    let p = this.pos;
    if (v < 0x80) buf[p++] = v;
    else if (v < 0x100) {
      buf[p++] = 0xcc;
      buf[p++] = v;
    } else if (v < 0x10000) {
      buf[p++] = 0xcd;
      buf[p++] = v >>> 8;
      buf[p++] = v & 0xff;
    } else if (v <= 0xffffffff) {
      buf[p++] = 0xce;
      buf[p++] = v >>> 24;
      buf[p++] = (v >>> 16) & 0xff;
      buf[p++] = (v >>> 8) & 0xff;
      buf[p++] = v & 0xff;
    } else {
      const hi = Math.floor(v / 0x100000000);
      const lo = v >>> 0;
      buf[p++] = 0xcf;
      buf[p++] = hi >>> 24;
      buf[p++] = (hi >>> 16) & 0xff;
      buf[p++] = (hi >>> 8) & 0xff;
      buf[p++] = hi & 0xff;
      buf[p++] = lo >>> 24;
      buf[p++] = (lo >>> 16) & 0xff;
      buf[p++] = (lo >>> 8) & 0xff;
      buf[p++] = lo & 0xff;
    }
    this.pos = p;
  }

  /** Array (base 0x90/0xdc/0xdd) or map (0x80/0xde/0xdf) header. */
  coll(n: number, fix: number, b16: number): void {
    const buf = this.buf;
    let p = this.pos;
    if (n < 16) buf[p++] = fix | n;
    else if (n < 0x10000) {
      buf[p++] = b16;
      buf[p++] = n >>> 8;
      buf[p++] = n & 0xff;
    } else {
      buf[p++] = b16 + 1;
      buf[p++] = n >>> 24;
      buf[p++] = (n >>> 16) & 0xff;
      buf[p++] = (n >>> 8) & 0xff;
      buf[p++] = n & 0xff;
    }
    this.pos = p;
  }

  /** A string already checked to be well-formed; writes its own header. */
  str(s: string): void {
    const len = utf8Length(s);
    const buf = this.buf;
    let p = this.pos;
    if (len < 32) buf[p++] = 0xa0 | len;
    else if (len < 0x100) {
      buf[p++] = 0xd9;
      buf[p++] = len;
    } else if (len < 0x10000) {
      buf[p++] = 0xda;
      buf[p++] = len >>> 8;
      buf[p++] = len & 0xff;
    } else {
      buf[p++] = 0xdb;
      buf[p++] = len >>> 24;
      buf[p++] = (len >>> 16) & 0xff;
      buf[p++] = (len >>> 8) & 0xff;
      buf[p++] = len & 0xff;
    }
    const n = s.length;
    for (let i = 0; i < n; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) buf[p++] = c;
      else if (c < 0x800) {
        buf[p++] = 0xc0 | (c >> 6);
        buf[p++] = 0x80 | (c & 0x3f);
      } else if (c < 0xd800 || c > 0xdfff) {
        buf[p++] = 0xe0 | (c >> 12);
        buf[p++] = 0x80 | ((c >> 6) & 0x3f);
        buf[p++] = 0x80 | (c & 0x3f);
      } else {
        c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
        buf[p++] = 0xf0 | (c >> 18);
        buf[p++] = 0x80 | ((c >> 12) & 0x3f);
        buf[p++] = 0x80 | ((c >> 6) & 0x3f);
        buf[p++] = 0x80 | (c & 0x3f);
      }
    }
    this.pos = p;
  }

  update(u: MemberUpdate, info: UpdateInfo): void {
    const fields = info.byLen >= 0 ? 6 : info.tagCount >= 0 ? 5 : 4;
    this.byte(0x90 | fields);
    this.str(u.id);
    this.str(u.address);
    this.uint(u.incarnation);
    this.byte(STATE_CODE[u.state]);
    if (info.tagCount >= 0) {
      const tags = u.tags as Record<string, string>;
      const keys = Object.keys(tags);
      this.coll(keys.length, 0x80, 0xde);
      for (const k of keys) {
        this.str(k);
        this.str(tags[k]);
      }
    } else if (fields === 6) this.byte(0xc0);
    if (fields === 6) this.str(u.by as string);
  }
}

/**
 * Encodes `message`. Throws EncodeError when a field has the wrong type, a string holds a
 * lone surrogate, a limit is exceeded, or the result would exceed maxMessageBytes.
 */
export function encode(message: Message, limits?: Partial<CodecLimits>): Uint8Array {
  let lim: Readonly<CodecLimits>;
  try {
    lim = resolveCodecLimits(limits);
  } catch (e) {
    throw new EncodeError('invalid', (e as Error).message);
  }
  let size = fixedSize(message, lim);
  const code = TYPE_CODE[message.type];
  const updates = updatesOf(message);
  let infos: UpdateInfo[] | null = null;
  if (updates !== null) {
    if (!Array.isArray(updates)) invalid('updates/members must be an array');
    if (updates.length > lim.maxUpdates)
      throw new EncodeError('limit', `${updates.length} updates, limit ${lim.maxUpdates}`);
    size += collHeaderSize(updates.length) - LIST_HEADER_RESERVE;
    infos = new Array<UpdateInfo>(updates.length);
    for (let i = 0; i < updates.length; i++) {
      const info = updateInfo(updates[i]);
      checkLen(info.idLen, lim.maxIdBytes, 'update id');
      checkLen(info.addrLen, lim.maxAddressBytes, 'update address');
      if (info.byLen >= 0) checkLen(info.byLen, lim.maxIdBytes, 'update by');
      if (info.tagCount > lim.maxTags) throw new EncodeError('limit', `${info.tagCount} tags, limit ${lim.maxTags}`);
      checkLen(info.tagBytes, lim.maxTagsBytes, 'tags');
      infos[i] = info;
      size += info.size;
    }
  }
  if (size > lim.maxMessageBytes)
    throw new EncodeError('too-large', `message is ${size} bytes, limit ${lim.maxMessageBytes}`);

  // Write pass.
  const w = new Writer(new Uint8Array(size));
  w.byte(PROTOCOL_VERSION);
  w.byte(code);
  w.byte(0x90 | BODY_FIELDS[message.type]);
  w.str(message.from);
  w.str(message.addr);
  switch (message.type) {
    case 'ping':
      w.uint(message.seq);
      w.str(message.target);
      break;
    case 'ack':
    case 'nack':
      w.uint(message.seq);
      break;
    case 'ping-req':
      w.uint(message.seq);
      w.str(message.target);
      w.str(message.targetAddr);
      w.byte(message.wantNack ? 0xc3 : 0xc2);
      break;
    case 'gossip':
      break;
    case 'push-pull':
      w.byte(message.join ? 0xc3 : 0xc2);
      w.byte(message.reply ? 0xc3 : 0xc2);
      break;
  }
  if (updates !== null && infos !== null) {
    w.coll(updates.length, 0x90, 0xdc);
    for (let i = 0; i < updates.length; i++) w.update(updates[i], infos[i]);
  }
  if (w.pos !== size) {
    // Only possible if an update was mutated after it was sized (the cache is by identity).
    if (updates !== null) for (const u of updates) updateInfoCache.delete(u);
    throw new EncodeError('invalid', 'an update changed after it was sized; updates must be immutable');
  }
  return w.buf;
}

// ---------------------------------------------------------------------------------------
// Decode

// ignoreBOM keeps a leading U+FEFF in the string instead of dropping it (exact round trip).
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Member ids, addresses and tags repeat in every message, so short ASCII strings are
 * interned in a small direct-mapped table (bounded: STRING_CACHE_SLOTS strings of at most
 * SHORT_STRING_BYTES); a hit is verified byte by byte. It only saves allocations.
 */
const SHORT_STRING_BYTES = 32;
const STRING_CACHE_SLOTS = 4096;
const stringCache: (string | undefined)[] = new Array<string | undefined>(STRING_CACHE_SLOTS).fill(undefined);

/** The string of an ASCII byte range, or null if it holds a non-ASCII byte. */
function shortAscii(b: Uint8Array, start: number, end: number): string | null {
  let h = end - start;
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c >= 0x80) return null;
    h = (Math.imul(h, 31) + c) | 0;
  }
  const slot = (h ^ (h >>> 13)) & (STRING_CACHE_SLOTS - 1);
  const cached = stringCache[slot];
  if (cached !== undefined && cached.length === end - start) {
    let i = 0;
    while (i < cached.length && cached.charCodeAt(i) === b[start + i]) i++;
    if (i === cached.length) return cached;
  }
  const s = end === start ? '' : String.fromCharCode.apply(null, b.subarray(start, end) as unknown as number[]);
  stringCache[slot] = s;
  return s;
}

class Reader {
  pos = 2;
  readonly end: number;
  constructor(
    readonly buf: Uint8Array,
    readonly lim: Readonly<CodecLimits>,
  ) {
    this.end = buf.length;
  }

  fail(reason: DecodeReason, message: string, at = this.pos): never {
    throw new DecodeError(reason, message, at);
  }

  need(n: number): void {
    if (this.end - this.pos < n) this.fail('truncated', `need ${n} more bytes, ${this.end - this.pos} left`);
  }

  u8(): number {
    if (this.pos >= this.end) this.fail('truncated', 'unexpected end of input');
    return this.buf[this.pos++];
  }

  be(n: 2 | 4): number {
    this.need(n);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + n;
    return n === 2 ? (b[p] << 8) | b[p + 1] : b[p] * 0x1000000 + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
  }

  arrayHeader(what: string): number {
    const at = this.pos;
    const t = this.u8();
    if (t >= 0x90 && t <= 0x9f) return t & 0x0f;
    if (t === 0xdc) return this.be(2);
    if (t === 0xdd) return this.be(4);
    return this.fail('shape', `${what}: expected an array, got byte 0x${t.toString(16)}`, at);
  }

  /** Exact field count of a positional array. */
  fields(n: number, what: string): void {
    const at = this.pos;
    const got = this.arrayHeader(what);
    if (got !== n) this.fail('shape', `${what}: expected ${n} fields, got ${got}`, at);
  }

  /** Byte length of the string that follows; the reader is left at its first byte. */
  strHeader(what: string): number {
    const at = this.pos;
    const t = this.u8();
    if (t >= 0xa0 && t <= 0xbf) return t & 0x1f;
    if (t === 0xd9) return this.u8();
    if (t === 0xda) return this.be(2);
    if (t === 0xdb) return this.be(4);
    return this.fail('shape', `${what}: expected a string, got byte 0x${t.toString(16)}`, at);
  }

  strBody(len: number): string {
    this.need(len);
    const b = this.buf;
    const start = this.pos;
    const end = start + len;
    this.pos = end;
    if (len <= SHORT_STRING_BYTES) {
      const s = shortAscii(b, start, end);
      if (s !== null) return s;
    }
    try {
      return utf8Decoder.decode(b.subarray(start, end));
    } catch {
      return this.fail('utf8', 'invalid UTF-8', start);
    }
  }

  str(max: number, what: string): string {
    const at = this.pos;
    const len = this.strHeader(what);
    if (len > max) this.fail('limit', `${what} is ${len} bytes, limit ${max}`, at);
    return this.strBody(len);
  }

  bool(what: string): boolean {
    const at = this.pos;
    const t = this.u8();
    if (t === 0xc3) return true;
    if (t === 0xc2) return false;
    return this.fail('shape', `${what}: expected a boolean, got byte 0x${t.toString(16)}`, at);
  }

  /** Any MessagePack integer (or integral float) that is a non-negative safe integer <= max. */
  uint(max: number, what: string): number {
    const at = this.pos;
    const t = this.u8();
    let v: number;
    if (t < 0x80) return t;
    else if (t >= 0xe0) v = t - 0x100;
    else
      switch (t) {
        case 0xcc:
          v = this.u8();
          break;
        case 0xcd:
          v = this.be(2);
          break;
        case 0xce:
          v = this.be(4);
          break;
        case 0xcf: {
          const hi = this.be(4);
          v = hi * 0x100000000 + this.be(4);
          break;
        }
        case 0xd0:
          v = (this.u8() << 24) >> 24;
          break;
        case 0xd1:
          v = (this.be(2) << 16) >> 16;
          break;
        case 0xd2:
          v = this.be(4) | 0;
          break;
        case 0xd3: {
          const hi = this.be(4) | 0;
          v = hi * 0x100000000 + this.be(4);
          break;
        }
        case 0xca:
        case 0xcb: {
          const n = t === 0xca ? 4 : 8;
          this.need(n);
          const dv = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, n);
          v = n === 4 ? dv.getFloat32(0) : dv.getFloat64(0);
          this.pos += n;
          break;
        }
        default:
          return this.fail('shape', `${what}: expected an integer, got byte 0x${t.toString(16)}`, at);
      }
    // Integers wider than 53 bits lose precision above: reject them via isSafeInteger.
    if (!Number.isSafeInteger(v) || v < 0 || v > max) this.fail('integer', `${what} out of range: ${v}`, at);
    return v + 0; // -0 from a float becomes 0
  }

  updates(what: string): MemberUpdate[] {
    const at = this.pos;
    const n = this.arrayHeader(what);
    if (n > this.lim.maxUpdates) this.fail('limit', `${n} ${what}, limit ${this.lim.maxUpdates}`, at);
    if (n * MIN_UPDATE_BYTES > this.end - this.pos) this.fail('truncated', `${n} ${what} cannot fit in the bytes left`, at);
    const out: MemberUpdate[] = [];
    for (let i = 0; i < n; i++) out.push(this.update());
    return out;
  }

  update(): MemberUpdate {
    const lim = this.lim;
    const at = this.pos;
    const fields = this.arrayHeader('update');
    if (fields < 4 || fields > 6) this.fail('shape', `update: expected 4 to 6 fields, got ${fields}`, at);
    const id = this.str(lim.maxIdBytes, 'update id');
    const address = this.str(lim.maxAddressBytes, 'update address');
    const incarnation = this.uint(Number.MAX_SAFE_INTEGER, 'incarnation');
    const sat = this.pos;
    const code = this.uint(Number.MAX_SAFE_INTEGER, 'state');
    if (code >= MEMBER_STATES.length) this.fail('state', `unknown member state code ${code}`, sat);
    const state = MEMBER_STATES[code];
    if (fields === 4) return { id, address, incarnation, state };
    let tags: Tags | undefined;
    if (fields === 6 && this.pos < this.end && this.buf[this.pos] === 0xc0) this.pos++;
    else tags = this.tags();
    if (fields === 5) return { id, address, incarnation, state, tags };
    const by = this.str(lim.maxIdBytes, 'update by');
    return tags === undefined ? { id, address, incarnation, state, by } : { id, address, incarnation, state, tags, by };
  }

  tags(): Tags {
    const lim = this.lim;
    const at = this.pos;
    const t = this.u8();
    let n: number;
    if (t >= 0x80 && t <= 0x8f) n = t & 0x0f;
    else if (t === 0xde) n = this.be(2);
    else if (t === 0xdf) n = this.be(4);
    else return this.fail('shape', `tags: expected a map, got byte 0x${t.toString(16)}`, at);
    if (n > lim.maxTags) this.fail('limit', `${n} tags, limit ${lim.maxTags}`, at);
    if (n * 2 > this.end - this.pos) this.fail('truncated', `${n} tags cannot fit in the bytes left`, at);
    // A plain object is safe here: `__proto__`, the one key whose assignment changes an
    // object's prototype, is rejected, and every other key becomes an own data property.
    const out: Record<string, string> = {};
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const kat = this.pos;
      const kl = this.strHeader('tag key');
      bytes += kl;
      if (bytes > lim.maxTagsBytes) this.fail('limit', `tags over ${lim.maxTagsBytes} bytes`, kat);
      const k = this.strBody(kl);
      if (k === '__proto__') this.fail('tags', 'tag key __proto__ is not allowed', kat);
      if (Object.hasOwn(out, k)) this.fail('tags', `duplicate tag key ${JSON.stringify(k)}`, kat);
      const vat = this.pos;
      const vl = this.strHeader('tag value');
      bytes += vl;
      if (bytes > lim.maxTagsBytes) this.fail('limit', `tags over ${lim.maxTagsBytes} bytes`, vat);
      out[k] = this.strBody(vl);
    }
    return out;
  }
}

function decodeBody(r: Reader, type: MessageType): Message {
  const lim = r.lim;
  switch (type) {
    case 'ping': {
      r.fields(5, 'ping');
      const from = r.str(lim.maxIdBytes, 'from');
      const addr = r.str(lim.maxAddressBytes, 'addr');
      const seq = r.uint(0xffffffff, 'seq');
      const target = r.str(lim.maxIdBytes, 'target');
      return { type, from, addr, seq, target, updates: r.updates('updates') };
    }
    case 'ack': {
      r.fields(4, 'ack');
      const from = r.str(lim.maxIdBytes, 'from');
      const addr = r.str(lim.maxAddressBytes, 'addr');
      const seq = r.uint(0xffffffff, 'seq');
      return { type, from, addr, seq, updates: r.updates('updates') };
    }
    case 'ping-req': {
      r.fields(7, 'ping-req');
      const from = r.str(lim.maxIdBytes, 'from');
      const addr = r.str(lim.maxAddressBytes, 'addr');
      const seq = r.uint(0xffffffff, 'seq');
      const target = r.str(lim.maxIdBytes, 'target');
      const targetAddr = r.str(lim.maxAddressBytes, 'targetAddr');
      const wantNack = r.bool('wantNack');
      return { type, from, addr, seq, target, targetAddr, wantNack, updates: r.updates('updates') };
    }
    case 'nack': {
      r.fields(3, 'nack');
      const from = r.str(lim.maxIdBytes, 'from');
      const addr = r.str(lim.maxAddressBytes, 'addr');
      return { type, from, addr, seq: r.uint(0xffffffff, 'seq') };
    }
    case 'gossip': {
      r.fields(3, 'gossip');
      const from = r.str(lim.maxIdBytes, 'from');
      const addr = r.str(lim.maxAddressBytes, 'addr');
      return { type, from, addr, updates: r.updates('updates') };
    }
    case 'push-pull': {
      r.fields(5, 'push-pull');
      const from = r.str(lim.maxIdBytes, 'from');
      const addr = r.str(lim.maxAddressBytes, 'addr');
      const join = r.bool('join');
      const reply = r.bool('reply');
      return { type, from, addr, join, reply, members: r.updates('members') };
    }
  }
}

const TYPE_BY_CODE: readonly (MessageType | undefined)[] = (() => {
  const out: (MessageType | undefined)[] = [];
  for (const [t, c] of Object.entries(TYPE_CODE)) out[c] = t as MessageType;
  return out;
})();

/**
 * Decodes one message. Throws DecodeError (and nothing else) for anything malformed: see
 * DecodeReason. The input length is checked against maxMessageBytes before any parsing.
 */
export function decode(bytes: Uint8Array, limits?: Partial<CodecLimits>): Message {
  let lim: Readonly<CodecLimits>;
  try {
    lim = resolveCodecLimits(limits);
  } catch (e) {
    throw new DecodeError('input', (e as Error).message);
  }
  if (!(bytes instanceof Uint8Array)) throw new DecodeError('input', 'input must be a Uint8Array');
  if (bytes.length > lim.maxMessageBytes)
    throw new DecodeError('too-large', `${bytes.length} bytes, limit ${lim.maxMessageBytes}`, 0);
  if (bytes.length < 2) throw new DecodeError('truncated', 'no header', bytes.length);
  if (bytes[0] !== PROTOCOL_VERSION)
    throw new DecodeError('version', `protocol version ${bytes[0]}, expected ${PROTOCOL_VERSION}`, 0);
  const type = TYPE_BY_CODE[bytes[1]];
  if (type === undefined) throw new DecodeError('type', `unknown message type code ${bytes[1]}`, 1);
  try {
    const r = new Reader(bytes, lim);
    const message = decodeBody(r, type);
    if (r.pos !== r.end) r.fail('trailing', `${r.end - r.pos} bytes after the message`);
    return message;
  } catch (e) {
    if (e instanceof DecodeError) throw e;
    throw new DecodeError('internal', String(e), -1, { cause: e });
  }
}
