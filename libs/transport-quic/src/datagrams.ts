/**
 * Sealed datagrams: small protocol messages between two admitted peers, sent as single
 * UDP datagrams on the node's one socket beside QUIC, instead of as frames on the QUIC
 * stream.
 *
 * Why: a SWIM probe over a QUIC stream is four datagrams (QUIC acknowledges every packet
 * that carries data) and runs js-quic's per-packet machinery on both ends; measured in the
 * transport benchmark, that tripled a node's CPU and quadrupled the probe round trip
 * against the same core over plain UDP (docs/BENCHMARKS.md, "QUIC against plain UDP").
 * SWIM is built for lossy datagrams (probe timeouts, indirect probes, retransmitted
 * gossip), so it loses nothing by leaving QUIC's reliability for these messages.
 *
 * Security: the keys come from the QUIC connection's hello, i.e. over mutual TLS with
 * the cluster CA. Each side of a connection draws a random 256-bit key and a 32-bit key
 * id for what it RECEIVES and sends them in its hello; the other side seals with them.
 * A datagram is
 *
 *   marker (1 B, 0x1d) ‖ key id (4 B) ‖ counter (8 B) ‖ ChaCha20-Poly1305(payload) ‖ tag (16 B)
 *
 * with the 13 header bytes as associated data and the counter (zero-padded to 12 bytes) as
 * the nonce; the sender's counter only grows, so a nonce is never reused under a key. The
 * receiver drops (and counts) a datagram whose key id it does not know, whose tag does not
 * verify, or whose counter it has seen or is older than the 64-counter replay window. The
 * marker has the QUIC "fixed bit" (0x40) clear, so no QUIC packet is ever taken for a
 * sealed datagram; the endpoint hands every other datagram to js-quic unchanged. The
 * endpoint keeps a peer's keys after their connection closed (datagram-keyring.ts).
 */
import { createCipheriv, createDecipheriv, randomBytes, randomInt } from 'node:crypto';

export const DATAGRAM_MARKER = 0x1d;
export const DATAGRAM_HEADER_BYTES = 13;
export const DATAGRAM_TAG_BYTES = 16;
export const DATAGRAM_OVERHEAD_BYTES = DATAGRAM_HEADER_BYTES + DATAGRAM_TAG_BYTES;
export const DATAGRAM_KEY_BYTES = 32;
/** Counters this far behind the highest seen are still accepted once (reordering). */
export const REPLAY_WINDOW = 64;
/**
 * Default largest payload sent as a datagram: with the 29 bytes of sealing, 1,200 bytes of
 * UDP payload — QUIC's own minimum datagram size, so no path that carries QUIC drops it
 * for size. Larger messages go on the stream.
 */
export const DEFAULT_MAX_DATAGRAM_PAYLOAD_BYTES = 1200 - DATAGRAM_OVERHEAD_BYTES;
/** Bounds of `maxDatagramPayloadBytes` (a UDP payload must stay ≤ 65,507 bytes). */
export const MAX_DATAGRAM_PAYLOAD_BYTES = 65_507 - DATAGRAM_OVERHEAD_BYTES;

/** What one side of a connection receives with: sent to the peer in the hello. */
export interface DatagramKeyOffer {
  id: number;
  key: Buffer;
}

export function newKeyOffer(): DatagramKeyOffer {
  return { id: randomInt(0, 2 ** 32), key: randomBytes(DATAGRAM_KEY_BYTES) };
}

/** The hello's JSON form of an offer. */
export function offerToJson(o: DatagramKeyOffer): { id: number; key: string } {
  return { id: o.id, key: o.key.toString('base64') };
}

/** Parses an offer from a hello; undefined when absent or malformed. */
export function offerFromJson(v: unknown): DatagramKeyOffer | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const { id, key } = v as Record<string, unknown>;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= 2 ** 32) return undefined;
  if (typeof key !== 'string' || key.length > 64) return undefined;
  const bytes = Buffer.from(key, 'base64');
  return bytes.length === DATAGRAM_KEY_BYTES ? { id, key: bytes } : undefined;
}

/** True if the datagram is one of ours (never a QUIC packet: the fixed bit is clear). */
export function isSealedDatagram(b: Uint8Array): boolean {
  return b.byteLength >= DATAGRAM_OVERHEAD_BYTES && b[0] === DATAGRAM_MARKER;
}

/** The key id of a sealed datagram (check isSealedDatagram first). */
export function datagramKeyId(b: Uint8Array): number {
  return ((b[1]! << 24) | (b[2]! << 16) | (b[3]! << 8) | b[4]!) >>> 0;
}

function nonceOf(header: Uint8Array): Buffer {
  const n = Buffer.alloc(12);
  n.set(header.subarray(5, 13), 4);
  return n;
}

/** Seals payloads for one peer with the key it offered. */
export class DatagramSealer {
  private counter = 0n;

  constructor(private readonly offer: DatagramKeyOffer) {}

  seal(payload: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(DATAGRAM_OVERHEAD_BYTES + payload.byteLength);
    out[0] = DATAGRAM_MARKER;
    out.writeUInt32BE(this.offer.id, 1);
    out.writeBigUInt64BE(++this.counter, 5);
    const header = out.subarray(0, DATAGRAM_HEADER_BYTES);
    const c = createCipheriv('chacha20-poly1305', this.offer.key, nonceOf(header), { authTagLength: DATAGRAM_TAG_BYTES });
    c.setAAD(header, { plaintextLength: payload.byteLength });
    const n = c.update(payload).copy(out, DATAGRAM_HEADER_BYTES);
    c.final();
    c.getAuthTag().copy(out, DATAGRAM_HEADER_BYTES + n);
    return out;
  }
}

export type OpenFailure = 'bad-tag' | 'replay';

/** Opens datagrams sealed with our offer; keeps the replay window. */
export class DatagramOpener {
  /** Highest counter accepted so far (0: none). */
  private highest = 0n;
  /** Bit i set: counter highest - i was accepted (bit 0 is `highest` itself). */
  private seen = 0n;

  constructor(private readonly offer: DatagramKeyOffer) {}

  get keyId(): number {
    return this.offer.id;
  }

  /** The payload, or why the datagram was refused. */
  open(b: Uint8Array): Uint8Array | OpenFailure {
    const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    const counter = buf.readBigUInt64BE(5);
    if (counter === 0n || this.isReplay(counter)) return 'replay';
    const header = buf.subarray(0, DATAGRAM_HEADER_BYTES);
    const body = buf.subarray(DATAGRAM_HEADER_BYTES, buf.length - DATAGRAM_TAG_BYTES);
    let plain: Buffer;
    try {
      const d = createDecipheriv('chacha20-poly1305', this.offer.key, nonceOf(header), { authTagLength: DATAGRAM_TAG_BYTES });
      d.setAAD(header, { plaintextLength: body.length });
      d.setAuthTag(buf.subarray(buf.length - DATAGRAM_TAG_BYTES));
      plain = d.update(body);
      d.final();
    } catch {
      return 'bad-tag';
    }
    this.accept(counter);
    return plain;
  }

  private isReplay(counter: bigint): boolean {
    if (counter > this.highest) return false;
    const age = this.highest - counter;
    if (age >= BigInt(REPLAY_WINDOW)) return true;
    return ((this.seen >> age) & 1n) === 1n;
  }

  private accept(counter: bigint): void {
    const mask = (1n << BigInt(REPLAY_WINDOW)) - 1n;
    if (counter > this.highest) {
      const shift = counter - this.highest;
      this.seen = shift >= BigInt(REPLAY_WINDOW) ? 1n : ((this.seen << shift) | 1n) & mask;
      this.highest = counter;
    } else {
      this.seen |= 1n << (this.highest - counter);
    }
  }
}
