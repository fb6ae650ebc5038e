import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Packr, Unpackr } from 'msgpackr';
import {
  DEFAULT_CODEC_LIMITS,
  DecodeError,
  EncodeError,
  baseWireSize,
  decode,
  encode,
  resolveCodecLimits,
  updateWireSize,
} from './codec.js';
import { MEMBER_STATES, type MemberUpdate } from './member.js';
import { MESSAGE_TYPES, PROTOCOL_VERSION, type Message } from './messages.js';

// ---------------------------------------------------------------------------------------
// Arbitraries

/** Well-formed strings of any code point (astral included), within `maxBytes` UTF-8 bytes. */
const str = (maxChars: number) =>
  fc.oneof(
    fc.string({ maxLength: maxChars }),
    fc.string({ unit: 'binary', maxLength: maxChars }),
    fc.string({ unit: 'binary-ascii', minLength: Math.min(30, maxChars), maxLength: maxChars }),
  );
const idArb = str(32); // <= 128 bytes
const addrArb = fc.oneof(
  str(60),
  fc.tuple(fc.ipV4(), fc.nat(65535)).map(([h, p]) => `${h}:${p}`),
);
const incarnationArb = fc.oneof(
  fc.nat(300),
  fc.nat(70_000),
  fc.integer({ min: 0, max: 2 ** 32 + 100 }),
  fc.maxSafeNat(),
  fc.constantFrom(0, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 2 ** 32, Number.MAX_SAFE_INTEGER),
);
const tagsArb = fc.dictionary(
  str(20).filter((k) => k !== '__proto__'),
  fc.oneof(str(20), fc.string({ unit: 'binary', maxLength: 120 })),
  { maxKeys: 20, noNullPrototype: true },
);
const updateArb: fc.Arbitrary<MemberUpdate> = fc.record(
  {
    id: idArb,
    address: addrArb,
    incarnation: incarnationArb,
    state: fc.constantFrom(...MEMBER_STATES),
    tags: tagsArb,
    by: idArb,
  },
  { requiredKeys: ['id', 'address', 'incarnation', 'state'] },
);
const updatesArb = fc.oneof(
  { weight: 4, arbitrary: fc.array(updateArb, { maxLength: 8 }) },
  { weight: 1, arbitrary: fc.array(updateArb, { minLength: 14, maxLength: 40 }) },
);
const seqArb = fc.oneof(fc.nat(1000), fc.nat({ max: 0xffffffff }));

const pingArb = fc.record({ type: fc.constant('ping' as const), from: idArb, addr: addrArb, seq: seqArb, target: idArb, updates: updatesArb });
const ackArb = fc.record({ type: fc.constant('ack' as const), from: idArb, addr: addrArb, seq: seqArb, updates: updatesArb });
const pingReqArb = fc.record({
  type: fc.constant('ping-req' as const),
  from: idArb,
  addr: addrArb,
  seq: seqArb,
  target: idArb,
  targetAddr: addrArb,
  wantNack: fc.boolean(),
  updates: updatesArb,
});
const nackArb = fc.record({ type: fc.constant('nack' as const), from: idArb, addr: addrArb, seq: seqArb });
const gossipArb = fc.record({ type: fc.constant('gossip' as const), from: idArb, addr: addrArb, updates: updatesArb });
const pushPullArb = fc.record({
  type: fc.constant('push-pull' as const),
  from: idArb,
  addr: addrArb,
  join: fc.boolean(),
  reply: fc.boolean(),
  members: updatesArb,
});
const messageArb: fc.Arbitrary<Message> = fc.oneof(pingArb, ackArb, pingReqArb, nackArb, gossipArb, pushPullArb);

// ---------------------------------------------------------------------------------------
// Helpers

const TYPE_CODES: Record<Message['type'], number> = { ping: 1, ack: 2, 'ping-req': 3, nack: 4, gossip: 5, 'push-pull': 6 };

function listOf(m: Message): readonly MemberUpdate[] {
  return m.type === 'push-pull' ? m.members : m.type === 'nack' ? [] : m.updates;
}

function withoutUpdates(m: Message): Message {
  if (m.type === 'nack') return m;
  if (m.type === 'push-pull') return { ...m, members: [] };
  return { ...m, updates: [] };
}

/** Decodes and checks the only two allowed outcomes: a valid Message, or a (non-internal) DecodeError. */
function decodeOutcome(bytes: Uint8Array): string {
  let m: Message;
  try {
    m = decode(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    expect((e as DecodeError).name).toBe('DecodeError');
    expect((e as DecodeError).reason).not.toBe('internal');
    return (e as DecodeError).reason;
  }
  // Whatever decodes must be a valid message: it re-encodes and round-trips.
  expect(MESSAGE_TYPES).toContain(m.type);
  expect(decode(encode(m))).toEqual(m);
  return 'ok';
}

function expectDecodeError(bytes: Uint8Array, reason?: string, limits?: Parameters<typeof decode>[1]): DecodeError {
  try {
    decode(bytes, limits);
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    if (reason !== undefined) expect((e as DecodeError).reason).toBe(reason);
    return e as DecodeError;
  }
  throw new Error('decode did not throw');
}

function expectEncodeError(m: unknown, reason?: string, limits?: Parameters<typeof encode>[1]): void {
  let err: unknown;
  try {
    encode(m as Message, limits);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(EncodeError);
  if (reason !== undefined) expect((err as EncodeError).reason).toBe(reason);
}

/** Hand-built MessagePack pieces for crafted inputs. */
const mp = {
  str(s: string): number[] {
    const b = [...new TextEncoder().encode(s)];
    if (b.length < 32) return [0xa0 | b.length, ...b];
    if (b.length < 256) return [0xd9, b.length, ...b];
    return [0xda, b.length >> 8, b.length & 0xff, ...b];
  },
  header: (type: Message['type'], version = PROTOCOL_VERSION) => [version, TYPE_CODES[type]],
};
const bytes = (...parts: (number | number[])[]) => Uint8Array.from(parts.flat());
/** A gossip message holding exactly one update made of the given raw fields. */
const gossipWith = (updateFields: number[][]) =>
  bytes(mp.header('gossip'), 0x93, mp.str('a'), mp.str('h:1'), 0x91, 0x90 | updateFields.length, ...updateFields);

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const packr = new Packr({ useRecords: false });
const positional = (u: MemberUpdate): unknown[] => {
  const out: unknown[] = [u.id, u.address, u.incarnation, MEMBER_STATES.indexOf(u.state)];
  if (u.by !== undefined) out.push(u.tags ?? null, u.by);
  else if (u.tags !== undefined) out.push(u.tags);
  return out;
};
const body = (m: Message): unknown[] => {
  const ups = listOf(m).map(positional);
  switch (m.type) {
    case 'ping':
      return [m.from, m.addr, m.seq, m.target, ups];
    case 'ack':
      return [m.from, m.addr, m.seq, ups];
    case 'ping-req':
      return [m.from, m.addr, m.seq, m.target, m.targetAddr, m.wantNack, ups];
    case 'nack':
      return [m.from, m.addr, m.seq];
    case 'gossip':
      return [m.from, m.addr, ups];
    case 'push-pull':
      return [m.from, m.addr, m.join, m.reply, ups];
  }
};

const ping: Message = { type: 'ping', from: 'node-1', addr: '10.0.0.1:7946', seq: 42, target: 'node-2', updates: [] };

// ---------------------------------------------------------------------------------------

describe('codec round trip', () => {
  it('decode(encode(m)) equals m for every message type (property)', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const b = encode(m);
        expect(b[0]).toBe(PROTOCOL_VERSION);
        expect(b[1]).toBe(TYPE_CODES[m.type]);
        const back = decode(b);
        expect(back).toEqual(m);
        // absent optional fields stay absent (not present as undefined)
        listOf(back).forEach((u, i) => {
          expect('tags' in u).toBe(listOf(m)[i].tags !== undefined);
          expect('by' in u).toBe(listOf(m)[i].by !== undefined);
        });
        // canonical: re-encoding gives the same bytes
        expect(encode(back)).toEqual(b);
      }),
      { numRuns: 600 },
    );
  });

  it('keeps empty tags distinct from absent tags, and by without tags', () => {
    const base = { id: 'n', address: 'h:1', incarnation: 3, state: 'suspect' as const };
    const variants: MemberUpdate[] = [base, { ...base, tags: {} }, { ...base, by: 'x' }, { ...base, tags: {}, by: 'x' }, { ...base, tags: { a: '' } }];
    for (const u of variants) {
      const m: Message = { type: 'gossip', from: 'a', addr: 'h:2', updates: [u] };
      const back = decode(encode(m));
      expect(back).toEqual(m);
      const bu = listOf(back)[0];
      expect(Object.keys(bu).sort()).toEqual(Object.keys(u).sort());
    }
  });

  it('keeps a leading BOM and astral characters, and rejects lone surrogates on encode', () => {
    const m: Message = { ...ping, from: '\uFEFFnode', target: '🦈-é-漢' } as Message;
    expect(decode(encode(m))).toEqual(m);
    expectEncodeError({ ...ping, from: 'a\uD800b' }, 'invalid');
    expectEncodeError({ ...ping, target: '\uDC00' }, 'invalid');
    expectEncodeError({ type: 'gossip', from: 'a', addr: 'b', updates: [{ id: 'x', address: 'y', incarnation: 1, state: 'alive', tags: { k: '\uD83D' } }] }, 'invalid');
  });

  it('tags decode to a plain object', () => {
    const m: Message = { type: 'gossip', from: 'a', addr: 'h:1', updates: [{ id: 'x', address: 'y', incarnation: 1, state: 'alive', tags: { role: 'db' } }] };
    const tags = listOf(decode(encode(m)))[0].tags!;
    expect(Object.getPrototypeOf(tags)).toBe(Object.prototype);
  });

  it('encodes null-prototype tag objects too', () => {
    const tags = Object.assign(Object.create(null) as Record<string, string>, { zone: 'a' });
    const m: Message = { type: 'gossip', from: 'a', addr: 'h:1', updates: [{ id: 'x', address: 'y', incarnation: 1, state: 'alive', tags }] };
    expect(decode(encode(m))).toEqual(m);
  });
});

describe('codec is standard MessagePack (msgpackr interop)', () => {
  it('msgpackr reads our body as the positional arrays, and we read msgpackr-packed bodies', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const b = encode(m);
        expect(unpackr.unpack(b.subarray(2))).toEqual(body(m));
        const theirs = packr.pack(body(m));
        expect(decode(bytes(b[0], b[1], [...theirs]))).toEqual(m);
      }),
      { numRuns: 200 },
    );
  });
});

describe('wire size bound', () => {
  it('encode(m).length <= baseWireSize(m) + sum(updateWireSize(u)), within the list-header reserve', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const len = encode(m).length;
        const list = listOf(m);
        const base = baseWireSize(withoutUpdates(m));
        expect(baseWireSize(m)).toBe(base); // the message's own list is ignored
        const bound = base + list.reduce((s, u) => s + updateWireSize(u), 0);
        expect(len).toBeLessThanOrEqual(bound);
        // Tight: the only slack is the list header reserve (5 bytes vs 1 or 3), none for nack.
        const slack = m.type === 'nack' ? 0 : list.length < 16 ? 4 : 2;
        expect(bound - len).toBe(slack);
      }),
      { numRuns: 500 },
    );
  });

  it('updateWireSize is the exact encoded size of the update', () => {
    fc.assert(
      fc.property(updateArb, (u) => {
        const one = encode({ type: 'gossip', from: 'a', addr: 'b', updates: [u] }).length;
        const none = encode({ type: 'gossip', from: 'a', addr: 'b', updates: [] }).length;
        expect(updateWireSize(u)).toBe(one - none);
      }),
      { numRuns: 300 },
    );
  });

  it('updateWireSize throws EncodeError for an invalid update', () => {
    expect(() => updateWireSize({ id: 'a', address: 'b', incarnation: -1, state: 'alive' })).toThrow(EncodeError);
    expect(() => updateWireSize({ id: 'a', address: 'b', incarnation: 1, state: 'zombie' as 'alive' })).toThrow(EncodeError);
  });

  it('detects an update mutated after it was sized instead of writing garbage', () => {
    const u = { id: 'a', address: 'b', incarnation: 1, state: 'alive' as const };
    const m: Message = { type: 'gossip', from: 'a', addr: 'b', updates: [u] };
    expect(decode(encode(m))).toEqual(m);
    (u as { id: string }).id = 'a-much-longer-id';
    expect(() => encode(m)).toThrow(EncodeError);
    // the stale cache entry was dropped: the next encode is right
    expect(decode(encode(m))).toEqual(m);
  });
});

describe('decode of hostile bytes', () => {
  it('random bytes: a valid message or a DecodeError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (b) => {
        decodeOutcome(b);
      }),
      { numRuns: 2000 },
    );
  });

  it('random bodies behind a valid header: a valid message or a DecodeError', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.uint8Array({ maxLength: 2048 }), (type, body) => {
        decodeOutcome(bytes(PROTOCOL_VERSION, type, [...body]));
      }),
      { numRuns: 2000 },
    );
  });

  it('random MessagePack tokens behind a valid header: a valid message or a DecodeError', () => {
    // Tokens that are often right, so that generated inputs get past the first fields.
    const token = fc.oneof(
      fc.integer({ min: 0, max: 7 }).map((n) => [0x90 | n]), // fixarray
      fc.integer({ min: 0, max: 3 }).map((n) => [0x80 | n]), // fixmap
      str(6).map((s) => mp.str(s)),
      fc.integer({ min: 0, max: 0xff }).map((n) => [n]), // any single byte
      fc.constantFrom([0xc0], [0xc2], [0xc3], [0xcc, 0xff], [0xcf, 0, 0x20, 0, 0, 0, 0, 0, 1], [0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]),
      fc.constantFrom([0xdd, 0xff, 0xff, 0xff, 0xff], [0xdf, 0xff, 0xff, 0xff, 0xff], [0xdb, 0xff, 0xff, 0xff, 0xff], [0xd6, 0xff, 0, 0, 0, 1]),
      fc.constantFrom(mp.str('__proto__'), mp.str('constructor'), [0xa3, 0xed, 0xa0, 0x80], [0xa2, 0xc0, 0xaf]),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(token, { maxLength: 40 }), (type, toks) => {
        decodeOutcome(bytes(PROTOCOL_VERSION, type, toks.flat()));
      }),
      { numRuns: 3000 },
    );
  });

  it('valid messages with mutated MessagePack trees (any type, extensions included): a valid message or a DecodeError', () => {
    // Values of every MessagePack type msgpackr can write, extensions included (Date,
    // Set, RegExp, Error, BigInt, typed arrays), plus near-miss values for our fields.
    const loose = fc.oneof(
      { weight: 2, arbitrary: fc.string({ maxLength: 8 }) },
      { weight: 1, arbitrary: fc.integer({ min: -5, max: 5 }) },
      { weight: 3, arbitrary: fc.constantFrom(-1, 3, 4, 255, 256, 2 ** 32, 2 ** 53, -(2 ** 40), 1.5, NaN, Infinity, -0, 2 ** 40) },
      { weight: 1, arbitrary: fc.boolean() },
      { weight: 1, arbitrary: fc.constantFrom(null, undefined) },
      { weight: 1, arbitrary: fc.date({ noInvalidDate: true }) },
      { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4 }) },
      {
        weight: 2,
        arbitrary: fc.constantFrom<unknown>(new Set([1]), /a+/g, new Error('x'), new Map([[1, 2]]), new Float32Array(1), [], {}, JSON.parse('{"__proto__":"x"}'), { constructor: 'y' }),
      },
      { weight: 1, arbitrary: fc.array(fc.oneof(fc.string({ maxLength: 3 }), fc.nat(5)), { maxLength: 6 }) },
    );
    const edit = fc.record({ at: fc.nat(), op: fc.constantFrom('replace', 'insert', 'remove'), value: loose });
    const outcomes = new Map<string, number>();
    const packers = [
      new Packr({ useRecords: false, useBigIntExtension: true }),
      new Packr({ useRecords: true, useBigIntExtension: true, structuredClone: true }), // record definitions, references
    ];
    fc.assert(
      fc.property(messageArb, fc.array(edit, { minLength: 1, maxLength: 3 }), fc.nat(1), (m, edits, p) => {
        const tree = structuredClone(body(m));
        for (const e of edits) {
          const slots: [unknown[] | Record<string, unknown>, number | string][] = [];
          const walk = (node: unknown) => {
            if (Array.isArray(node)) node.forEach((v, i) => (slots.push([node, i]), walk(v)));
            else if (node && Object.getPrototypeOf(node) === Object.prototype) for (const k of Object.keys(node)) slots.push([node as Record<string, unknown>, k]);
          };
          walk(tree);
          if (slots.length === 0) break;
          const [parent, key] = slots[e.at % slots.length];
          if (Array.isArray(parent) && typeof key === 'number') {
            if (e.op === 'insert') parent.splice(key, 0, e.value);
            else if (e.op === 'remove') parent.splice(key, 1);
            else parent[key] = e.value;
          } else if (!Array.isArray(parent)) {
            if (e.op === 'remove') delete parent[key];
            else {
              const k = e.op === 'insert' ? (typeof e.value === 'string' ? e.value : '__proto__') : key;
              Object.defineProperty(parent, k, { value: e.op === 'insert' ? 'v' : e.value, enumerable: true, writable: true, configurable: true });
            }
          }
        }
        const packed = packers[p].pack(tree);
        const o = decodeOutcome(bytes(PROTOCOL_VERSION, TYPE_CODES[m.type], [...packed]));
        outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
      }),
      { numRuns: 3000 },
    );
    // The fuzz reaches every part of the parser: some edits survive, most are caught for varied reasons.
    expect(outcomes.get('ok') ?? 0).toBeGreaterThan(30);
    expect(outcomes.get('integer') ?? 0).toBeGreaterThan(10);
    expect(outcomes.get('shape') ?? 0).toBeGreaterThan(1000);
  });

  it('any truncation of a valid encoding is a DecodeError', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), (m, cut) => {
        const b = encode(m);
        expectDecodeError(b.subarray(0, cut % b.length));
      }),
      { numRuns: 500 },
    );
    // and every cut point of a few messages
    fc.assert(
      fc.property(messageArb, (m) => {
        const b = encode(m);
        fc.pre(b.length <= 2000);
        for (let k = 0; k < b.length; k++) expectDecodeError(b.subarray(0, k));
      }),
      { numRuns: 30 },
    );
  });

  it('flipping bytes of a valid encoding gives a valid message or a DecodeError', () => {
    fc.assert(
      fc.property(messageArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (m, flips) => {
        const b = encode(m).slice();
        for (const [i, v] of flips) b[i % b.length] = v;
        decodeOutcome(b);
      }),
      { numRuns: 1500 },
    );
  });

  it('trailing bytes after a valid message are rejected', () => {
    expectDecodeError(bytes([...encode(ping)], 0xc0), 'trailing');
  });

  it('unknown version', () => {
    const b = encode(ping).slice();
    b[0] = PROTOCOL_VERSION + 1;
    expectDecodeError(b, 'version');
    b[0] = 0;
    expectDecodeError(b, 'version');
  });

  it('unknown type', () => {
    const b = encode(ping).slice();
    for (const t of [0, 7, 0xff]) {
      b[1] = t;
      expectDecodeError(b, 'type');
    }
  });

  it('empty and header-only input', () => {
    expectDecodeError(new Uint8Array(0), 'truncated');
    expectDecodeError(bytes(PROTOCOL_VERSION), 'truncated');
    expectDecodeError(bytes(mp.header('ping')), 'truncated');
  });

  it('oversized input is rejected before parsing', () => {
    // Garbage header: if anything were parsed first, the reason would be 'version'.
    const big = new Uint8Array(1001).fill(0xee);
    expectDecodeError(big, 'too-large', { maxMessageBytes: 1000 });
    expect(() => decode(new Uint8Array(DEFAULT_CODEC_LIMITS.maxMessageBytes + 1))).toThrow(/too-large/);
    // and encode refuses to produce it
    const m: Message = { type: 'gossip', from: 'a', addr: 'b', updates: Array.from({ length: 50 }, (_, i) => ({ id: `node-${i}`, address: '10.0.0.1:7946', incarnation: i, state: 'alive' as const })) };
    expectEncodeError(m, 'too-large', { maxMessageBytes: 200 });
    const fits = encode(m, { maxMessageBytes: encode(m).length });
    expect(decode(fits, { maxMessageBytes: fits.length })).toEqual(m);
    expectDecodeError(fits, 'too-large', { maxMessageBytes: fits.length - 1 });
  });

  it('over-long id', () => {
    const id = 'x'.repeat(DEFAULT_CODEC_LIMITS.maxIdBytes + 1);
    expectEncodeError({ ...ping, from: id }, 'limit');
    expectEncodeError({ type: 'gossip', from: 'a', addr: 'b', updates: [{ id, address: 'h:1', incarnation: 0, state: 'alive' }] }, 'limit');
    const e = expectDecodeError(bytes(mp.header('ping'), 0x95, mp.str(id), mp.str('h:1'), 0x01, mp.str('t'), 0x90), 'limit');
    expect(e.offset).toBe(3);
    expectDecodeError(gossipWith([mp.str(id), mp.str('h:1'), [0], [0]]), 'limit');
    // exactly at the limit is fine
    const ok = { ...ping, from: 'x'.repeat(DEFAULT_CODEC_LIMITS.maxIdBytes) } as Message;
    expect(decode(encode(ok))).toEqual(ok);
    // limits are configurable on both sides
    expectEncodeError(ping, 'limit', { maxIdBytes: 5 });
    expectDecodeError(encode(ping), 'limit', { maxIdBytes: 5 });
    expectDecodeError(encode(ping), 'limit', { maxAddressBytes: 5 });
  });

  it('negative, fractional, unsafe and oversized integers', () => {
    const inc = (raw: number[]) => gossipWith([mp.str('n'), mp.str('h:1'), raw, [0]]);
    expectDecodeError(inc([0xff]), 'integer'); // -1 fixint
    expectDecodeError(inc([0xd0, 0x80]), 'integer'); // int8 -128
    expectDecodeError(inc([0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]), 'integer'); // 1.5
    expectDecodeError(inc([0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]), 'integer'); // NaN
    expectDecodeError(inc([0xcf, 0x00, 0x20, 0, 0, 0, 0, 0, 0]), 'integer'); // 2^53
    expectDecodeError(inc([0xc0]), 'shape'); // nil
    expectDecodeError(inc(mp.str('1')), 'shape');
    // msgpackr writes integers above 2^32 as float64: integral floats are accepted
    const ok = listOf(decode(inc([0xcb, 0x42, 0x70, 0, 0, 0, 0, 0, 0])));
    expect(ok[0].incarnation).toBe(2 ** 40);
    const negZero = listOf(decode(inc([0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0])));
    expect(Object.is(negZero[0].incarnation, 0)).toBe(true); // -0.0 becomes 0
    // seq must be a uint32
    expectDecodeError(bytes(mp.header('nack'), 0x93, mp.str('a'), mp.str('b'), 0xcf, 0, 0, 0, 1, 0, 0, 0, 0), 'integer');
    // encode side
    for (const incarnation of [-1, 1.5, NaN, 2 ** 53, Infinity]) {
      expectEncodeError({ type: 'gossip', from: 'a', addr: 'b', updates: [{ id: 'n', address: 'h', incarnation, state: 'alive' }] }, 'invalid');
    }
    for (const seq of [-1, 0.5, 2 ** 32]) expectEncodeError({ ...ping, seq }, 'invalid');
  });

  it('bad state', () => {
    expectDecodeError(gossipWith([mp.str('n'), mp.str('h:1'), [1], [4]]), 'state');
    expectDecodeError(gossipWith([mp.str('n'), mp.str('h:1'), [1], [0xcc, 0xff]]), 'state');
    expectDecodeError(gossipWith([mp.str('n'), mp.str('h:1'), [1], mp.str('alive')]), 'shape');
    expectEncodeError({ type: 'gossip', from: 'a', addr: 'b', updates: [{ id: 'n', address: 'h', incarnation: 1, state: 'zombie' }] }, 'invalid');
    expectEncodeError({ type: 'gossip', from: 'a', addr: 'b', updates: [{ id: 'n', address: 'h', incarnation: 1, state: 'toString' }] }, 'invalid');
  });

  it('wrong field counts and types', () => {
    expectDecodeError(bytes(mp.header('nack'), 0x94, mp.str('a'), mp.str('b'), 1, 0xc0), 'shape');
    expectDecodeError(bytes(mp.header('nack'), 0x92, mp.str('a'), mp.str('b')), 'shape');
    expectDecodeError(bytes(mp.header('push-pull'), 0x95, mp.str('a'), mp.str('b'), 1, 0xc2, 0x90), 'shape'); // 1 is not a boolean
    expectDecodeError(gossipWith([mp.str('n'), mp.str('h:1'), [1]]), 'shape'); // 3 fields
    expectDecodeError(gossipWith([mp.str('n'), mp.str('h:1'), [1], [0], [0xc0]]), 'shape'); // 5 fields: tags may not be nil
    expectDecodeError(gossipWith([mp.str('n'), mp.str('h:1'), [1], [0], [0x80], [0xc0]]), 'shape'); // by must be a string
    expectDecodeError(bytes(mp.header('ping'), 0x95, [0xc4, 1, 0x61], mp.str('b'), 1, mp.str('t'), 0x90), 'shape'); // bin, not str
    expectEncodeError({ ...ping, type: 'pong' }, 'invalid');
    expectEncodeError({ type: 'push-pull', from: 'a', addr: 'b', join: 1, reply: false, members: [] }, 'invalid');
    expectEncodeError({ type: 'gossip', from: 'a', addr: 'b', updates: 'x' }, 'invalid');
    for (const tags of [new Map([['a', 'b']]), ['a'], 'a=b', null]) {
      expectEncodeError({ type: 'gossip', from: 'a', addr: 'b', updates: [{ id: 'n', address: 'h', incarnation: 1, state: 'alive', tags }] }, 'invalid');
    }
    expectEncodeError(null, 'invalid');
  });

  it('invalid UTF-8 is rejected', () => {
    expectDecodeError(bytes(mp.header('nack'), 0x93, [0xa2, 0xc3, 0x28], mp.str('b'), 1), 'utf8');
    expectDecodeError(bytes(mp.header('nack'), 0x93, [0xa3, 0xed, 0xa0, 0x80], mp.str('b'), 1), 'utf8'); // encoded surrogate
    expectDecodeError(bytes(mp.header('nack'), 0x93, [0xa2, 0xc0, 0xaf], mp.str('b'), 1), 'utf8'); // overlong
  });

  it('forged huge lengths fail fast without big allocations', () => {
    const unlimited = { maxUpdates: 0xffffffff, maxIdBytes: 0xffffffff, maxTags: 0xffffffff, maxTagsBytes: 0xffffffff };
    const forged = [
      bytes(mp.header('gossip'), 0x93, mp.str('a'), mp.str('b'), 0xdd, 0xff, 0xff, 0xff, 0xff, 0x94), // 4G updates
      bytes(mp.header('nack'), 0x93, 0xdb, 0xff, 0xff, 0xff, 0xff, 0x61), // 4 GiB string
      gossipWith([mp.str('n'), mp.str('h:1'), [1], [0], [0xdf, 0xff, 0xff, 0xff, 0xff, 0xa0, 0xa0]]), // 4G tags
    ];
    const fields = bytes(mp.header('gossip'), 0xdd, 0xff, 0xff, 0xff, 0xff); // 4G body fields
    const heapBefore = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    for (const b of forged) {
      expectDecodeError(b, 'limit'); // default limits
      expectDecodeError(b, 'truncated', unlimited);
    }
    expectDecodeError(fields, 'shape');
    expect(performance.now() - t0).toBeLessThan(200);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(16 * 1024 * 1024);
  });

  it('over the update and tag limits', () => {
    const m: Message = { type: 'gossip', from: 'a', addr: 'b', updates: Array.from({ length: 3 }, () => ({ id: 'n', address: 'h', incarnation: 1, state: 'alive' as const })) };
    expectEncodeError(m, 'limit', { maxUpdates: 2 });
    expectDecodeError(encode(m), 'limit', { maxUpdates: 2 });
    const t: Message = { type: 'gossip', from: 'a', addr: 'b', updates: [{ id: 'n', address: 'h', incarnation: 1, state: 'alive', tags: { a: '1', b: '2', c: '3' } }] };
    expectEncodeError(t, 'limit', { maxTags: 2 });
    expectDecodeError(encode(t), 'limit', { maxTags: 2 });
    expectEncodeError(t, 'limit', { maxTagsBytes: 5 });
    expectDecodeError(encode(t), 'limit', { maxTagsBytes: 5 });
    expect(decode(encode(t, { maxTagsBytes: 6 }), { maxTagsBytes: 6 })).toEqual(t);
  });

  it('a __proto__ tag key does not pollute anything', () => {
    const entries = (k: string) => [0x81, ...mp.str(k), ...mp.str('polluted')];
    const evil = gossipWith([mp.str('n'), mp.str('h:1'), [1], [0], entries('__proto__')]);
    expectDecodeError(evil, 'tags');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // other special names are harmless own data properties
    const tags = listOf(decode(gossipWith([mp.str('n'), mp.str('h:1'), [1], [0], entries('constructor')])))[0].tags!;
    expect(Object.getPrototypeOf(tags)).toBe(Object.prototype);
    expect(Object.hasOwn(tags, 'constructor')).toBe(true);
    expect(tags.constructor).toBe('polluted');
    expect({}.constructor).toBe(Object);
    // a spread or Object.assign of decoded tags is safe
    expect(Object.getPrototypeOf(Object.assign({}, tags))).toBe(Object.prototype);
    // encode refuses an own __proto__ key (e.g. from JSON.parse)
    const own = JSON.parse('{"__proto__": "x"}') as Record<string, string>;
    expectEncodeError({ type: 'gossip', from: 'a', addr: 'b', updates: [{ id: 'n', address: 'h', incarnation: 1, state: 'alive', tags: own }] }, 'invalid');
  });

  it('duplicate tag keys are rejected', () => {
    const dup = [0x82, ...mp.str('k'), ...mp.str('1'), ...mp.str('k'), ...mp.str('2')];
    expectDecodeError(gossipWith([mp.str('n'), mp.str('h:1'), [1], [0], dup]), 'tags');
  });

  it('MessagePack extensions, nil and binary are never accepted where strings or maps belong', () => {
    const tsExt = [0xd6, 0xff, 0, 0, 0, 1]; // timestamp: msgpackr would give a Date
    expectDecodeError(gossipWith([mp.str('n'), mp.str('h:1'), [1], [0], tsExt]), 'shape');
    expectDecodeError(bytes(mp.header('nack'), 0x93, tsExt, mp.str('b'), 1), 'shape');
    expectDecodeError(bytes(mp.header('nack'), 0x93, [0xd4, 0x72, 0x40], mp.str('b'), 1), 'shape'); // record definition
  });
});

describe('codec limits', () => {
  it('are validated, naming the key', () => {
    expect(resolveCodecLimits()).toBe(DEFAULT_CODEC_LIMITS);
    expect(resolveCodecLimits({ maxIdBytes: 64 }).maxIdBytes).toBe(64);
    expect(resolveCodecLimits({ maxIdBytes: undefined })).toEqual(DEFAULT_CODEC_LIMITS);
    for (const bad of [{ maxIdBytes: 0 }, { maxMessageBytes: 1.5 }, { maxUpdates: -1 }, { maxTags: 2 ** 33 }, { maxTagsBytes: NaN }]) {
      expect(() => resolveCodecLimits(bad)).toThrow(new RegExp(Object.keys(bad)[0]));
      expect(expectDecodeError(encode(ping), 'input', bad).message).toMatch(Object.keys(bad)[0]);
      expectEncodeError(ping, 'invalid', bad);
    }
    expect(() => decode('not bytes' as unknown as Uint8Array)).toThrow(DecodeError);
  });

  it('resolve once: a resolved set is frozen, passes through as it is, and is enforced by encode and decode', () => {
    const lim = resolveCodecLimits({ maxMessageBytes: 40 });
    expect(Object.isFrozen(lim)).toBe(true);
    expect(resolveCodecLimits(lim)).toBe(lim);
    expect(lim).toEqual({ ...DEFAULT_CODEC_LIMITS, maxMessageBytes: 40 });
    // A look-alike that was not resolved here is checked again.
    expect(() => resolveCodecLimits({ ...lim, maxTags: -1 })).toThrow(/maxTags/);
    const big = { ...ping, target: 'x'.repeat(60) };
    expectEncodeError(big, 'too-large', lim);
    expect(expectDecodeError(encode(big), 'too-large', lim).message).toMatch(/limit 40/);
    expect(decode(encode(ping, lim), lim)).toEqual(ping);
  });

  it('decodes from a Buffer view with a non-zero offset', () => {
    const b = encode(ping);
    const backing = new Uint8Array(b.length + 7);
    backing.set(b, 7);
    expect(decode(backing.subarray(7))).toEqual(ping);
  });
});
