import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { FrameError, InvalidOptionError } from './errors.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, FrameWriter, encodeFrame } from './framing.js';

const bytes = (...b: number[]) => new Uint8Array(b);
const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
};

describe('encodeFrame / FrameDecoder', () => {
  it('encodes a 4-byte big-endian length then the payload', () => {
    expect(Array.from(encodeFrame(bytes(7, 8, 9)))).toEqual([0, 0, 0, 3, 7, 8, 9]);
    expect(Array.from(encodeFrame(bytes()))).toEqual([0, 0, 0, 0]);
  });

  it('decodes several frames in one chunk and a frame split byte by byte', () => {
    const d = new FrameDecoder();
    const wire = concat([encodeFrame(bytes(1)), encodeFrame(bytes()), encodeFrame(bytes(2, 3))]);
    expect(d.push(wire).map((f) => Array.from(f))).toEqual([[1], [], [2, 3]]);
    const big = new Uint8Array(1000).map((_, i) => i & 0xff);
    const enc = encodeFrame(big);
    const out: Uint8Array[] = [];
    for (let i = 0; i < enc.byteLength; i++) out.push(...d.push(enc.subarray(i, i + 1)));
    expect(out).toHaveLength(1);
    expect(out[0]).toEqual(big);
    expect(d.bufferedBytes).toBe(0);
    d.end();
  });

  it('returned frames are copies, independent of the input chunk', () => {
    const d = new FrameDecoder();
    const chunk = encodeFrame(bytes(5, 6));
    const [f] = d.push(chunk);
    chunk.fill(0);
    expect(Array.from(f!)).toEqual([5, 6]);
  });

  it('refuses an over-size length before buffering the payload, and stays failed', () => {
    const d = new FrameDecoder({ maxFrameBytes: 10 });
    expect(d.push(encodeFrame(new Uint8Array(10)))).toHaveLength(1);
    let err: unknown;
    try {
      d.push(bytes(0, 0, 0, 11));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FrameError);
    expect((err as FrameError).reason).toBe('oversize');
    expect(() => d.push(encodeFrame(bytes(1)))).toThrow(FrameError);
    // A 4 GiB length from random bytes is refused the same way.
    expect(() => new FrameDecoder().push(bytes(0xff, 0xff, 0xff, 0xff, 1))).toThrow(/exceeds maxFrameBytes/);
  });

  it('end() inside a frame is a truncation; non-bytes input is malformed', () => {
    const d = new FrameDecoder();
    d.push(bytes(0, 0, 0, 5, 1));
    expect(() => d.end()).toThrow(expect.objectContaining({ reason: 'truncated' }) as unknown as Error);
    expect(() => new FrameDecoder().push('abc' as unknown as Uint8Array)).toThrow(expect.objectContaining({ reason: 'malformed' }) as unknown as Error);
  });

  it('validates maxFrameBytes and refuses to encode an over-size payload', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 31]) expect(() => new FrameDecoder({ maxFrameBytes: bad })).toThrow(InvalidOptionError);
    expect(new FrameDecoder().maxFrameBytes).toBe(DEFAULT_MAX_FRAME_BYTES);
    expect(() => encodeFrame(new Uint8Array(11), 10)).toThrow(FrameError);
  });

  it('property: any split of any sequence of frames decodes to the same frames', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (frames, cutSeeds) => {
          const wire = concat(frames.map((f) => encodeFrame(f)));
          const cuts = [...new Set(cutSeeds.map((c) => (wire.byteLength === 0 ? 0 : c % (wire.byteLength + 1))))].sort((a, b) => a - b);
          const d = new FrameDecoder({ maxFrameBytes: 300 });
          const out: Uint8Array[] = [];
          let prev = 0;
          for (const c of [...cuts, wire.byteLength]) {
            out.push(...d.push(wire.subarray(prev, c)));
            prev = c;
          }
          d.end();
          expect(out).toEqual(frames);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('FrameWriter', () => {
  it('batches frames written in the same tick into one sink write', async () => {
    const writes: Uint8Array[] = [];
    const w = new FrameWriter((c) => {
      writes.push(c);
    });
    w.write(bytes(1));
    w.write(bytes(2, 3));
    w.write(bytes());
    expect(writes).toHaveLength(0);
    await w.flush();
    expect(writes).toHaveLength(1);
    expect(new FrameDecoder().push(writes[0]!).map((f) => Array.from(f))).toEqual([[1], [2, 3], []]);
    w.write(bytes(4));
    await Promise.resolve();
    await Promise.resolve();
    expect(writes).toHaveLength(2);
    expect(w.framesWritten).toBe(4);
    expect(w.batches).toBe(2);
  });

  it('frames queued while a sink write is pending go in the next batch, in order', async () => {
    const writes: Uint8Array[] = [];
    let release: (() => void) | undefined;
    const w = new FrameWriter(async (c) => {
      writes.push(c);
      await new Promise<void>((r) => (release = r));
    });
    w.write(bytes(1));
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(1);
    w.write(bytes(2));
    w.write(bytes(3));
    expect(writes).toHaveLength(1);
    release!();
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(2);
    release!();
    await w.flush();
    const d = new FrameDecoder();
    expect(writes.flatMap((c) => d.push(c)).map((f) => f[0])).toEqual([1, 2, 3]);
  });

  it('respects maxBatchBytes', async () => {
    const writes: Uint8Array[] = [];
    const w = new FrameWriter((c) => void writes.push(c), { maxBatchBytes: 10 });
    for (let i = 0; i < 5; i++) w.write(new Uint8Array(3)); // 7 bytes each on the wire
    await w.flush();
    expect(writes.map((c) => c.byteLength)).toEqual([7, 7, 7, 7, 7]);
  });

  it('fails once with queue-full when the sink stalls, reports it, and drops the queue', async () => {
    const errors: unknown[] = [];
    const w = new FrameWriter(() => new Promise<void>(() => {}), { maxFrameBytes: 100, maxQueuedBytes: 300, onError: (e) => errors.push(e) });
    w.write(new Uint8Array(100)); // goes in flight
    await Promise.resolve();
    w.write(new Uint8Array(100));
    w.write(new Uint8Array(100));
    expect(() => w.write(new Uint8Array(100))).toThrow(expect.objectContaining({ reason: 'queue-full' }) as unknown as Error);
    expect(errors).toHaveLength(1);
    expect(w.failed).toBe(true);
    expect(w.pendingBytes).toBe(0);
    expect(() => w.write(bytes(1))).toThrow(FrameError);
  });

  it('a rejecting sink fails the writer and reports the error', async () => {
    const errors: unknown[] = [];
    const w = new FrameWriter(() => Promise.reject(new Error('stream reset')), { onError: (e) => errors.push(e) });
    w.write(bytes(1));
    await w.flush();
    expect(errors).toEqual([new Error('stream reset')]);
    expect(() => w.write(bytes(1))).toThrow(FrameError);
  });

  it('over-size writes throw without failing the writer; options are validated', async () => {
    const writes: Uint8Array[] = [];
    const w = new FrameWriter((c) => void writes.push(c), { maxFrameBytes: 4 });
    expect(() => w.write(new Uint8Array(5))).toThrow(expect.objectContaining({ reason: 'oversize' }) as unknown as Error);
    w.write(new Uint8Array(4));
    await w.flush();
    expect(writes).toHaveLength(1);
    expect(() => new FrameWriter(() => {}, { maxFrameBytes: 100, maxQueuedBytes: 50 })).toThrow(InvalidOptionError);
    expect(() => new FrameWriter(() => {}, { maxBatchBytes: 0 })).toThrow(InvalidOptionError);
    expect(() => new FrameWriter(() => {}, { flushOn: 'never' as 'microtask' })).toThrow(InvalidOptionError);
  });

  it("flushOn 'immediate' also batches frames written across microtasks", async () => {
    const writes: Uint8Array[] = [];
    const w = new FrameWriter((c) => void writes.push(c), { flushOn: 'immediate' });
    w.write(bytes(1));
    await Promise.resolve();
    w.write(bytes(2));
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(1);
    expect(new FrameDecoder().push(writes[0]!)).toHaveLength(2);
  });
});
