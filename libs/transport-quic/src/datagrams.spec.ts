import { describe, expect, it } from '@jest/globals';
import {
  DATAGRAM_MARKER,
  DATAGRAM_OVERHEAD_BYTES,
  DatagramOpener,
  DatagramSealer,
  REPLAY_WINDOW,
  datagramKeyId,
  isSealedDatagram,
  newKeyOffer,
  offerFromJson,
  offerToJson,
} from './datagrams.js';

const text = (b: Uint8Array | string) => (typeof b === 'string' ? b : Buffer.from(b).toString());

describe('sealed datagrams', () => {
  it('round-trips a payload; the header names the key; the marker is never a QUIC packet', () => {
    const offer = newKeyOffer();
    const d = new DatagramSealer(offer).seal(Buffer.from('hello'));
    expect(d.length).toBe(5 + DATAGRAM_OVERHEAD_BYTES);
    expect(isSealedDatagram(d)).toBe(true);
    expect(d[0]! & 0x40).toBe(0); // QUIC's fixed bit clear
    expect(datagramKeyId(d)).toBe(offer.id);
    expect(text(new DatagramOpener(offer).open(d) as Uint8Array)).toBe('hello');
    expect(isSealedDatagram(Buffer.from([DATAGRAM_MARKER, 1, 2]))).toBe(false);
    expect(isSealedDatagram(Buffer.alloc(40, 0x40))).toBe(false);
  });

  it('refuses another key, a flipped bit anywhere, and a changed header', () => {
    const offer = newKeyOffer();
    const d = new DatagramSealer(offer).seal(Buffer.from('payload'));
    expect(new DatagramOpener(newKeyOffer()).open(d)).toBe('bad-tag');
    for (let i = 1; i < d.length; i++) {
      const t = Buffer.from(d);
      t[i]! ^= 0x01;
      const r = new DatagramOpener(offer).open(t);
      expect(r === 'bad-tag' || r === 'replay').toBe(true);
    }
  });

  it('accepts each counter once, tolerates reordering within the window, refuses older ones', () => {
    const offer = newKeyOffer();
    const sealer = new DatagramSealer(offer);
    const ds = Array.from({ length: REPLAY_WINDOW + 10 }, (_, i) => sealer.seal(Buffer.from(String(i))));
    const opener = new DatagramOpener(offer);
    expect(text(opener.open(ds[5]!) as Uint8Array)).toBe('5');
    expect(opener.open(ds[5]!)).toBe('replay');
    expect(text(opener.open(ds[2]!) as Uint8Array)).toBe('2'); // late, within the window
    expect(opener.open(ds[2]!)).toBe('replay');
    expect(text(opener.open(ds[REPLAY_WINDOW + 9]!) as Uint8Array)).toBe(String(REPLAY_WINDOW + 9));
    expect(opener.open(ds[3]!)).toBe('replay'); // now older than the window
    expect(text(opener.open(ds[REPLAY_WINDOW + 1]!) as Uint8Array)).toBe(String(REPLAY_WINDOW + 1));
  });

  it('offers travel as JSON; malformed offers are ignored', () => {
    const o = newKeyOffer();
    expect(offerFromJson(JSON.parse(JSON.stringify(offerToJson(o))))).toEqual(o);
    for (const bad of [undefined, null, 1, {}, { id: -1, key: offerToJson(o).key }, { id: 2 ** 32, key: offerToJson(o).key }, { id: 1, key: 'short' }, { id: 1.5, key: offerToJson(o).key }]) {
      expect(offerFromJson(bad)).toBeUndefined();
    }
  });
});
