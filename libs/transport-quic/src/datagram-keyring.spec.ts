import { describe, expect, it } from '@jest/globals';
import { DatagramKeyring, KEPT_CLOSED_RECEIVE_KEYS } from './datagram-keyring.js';
import { DatagramOpener, newKeyOffer } from './datagrams.js';

interface FakeConn {
  closed: boolean;
}

function setup(opts: { maxPeers?: number; maxAgeMs?: number } = {}) {
  let t = 1_000;
  const ring = new DatagramKeyring<FakeConn>({ maxPeers: opts.maxPeers ?? 8, maxAgeMs: opts.maxAgeMs ?? 60_000, now: () => t });
  const to = { host: '127.0.0.1', port: 7000 };
  /** One admitted connection to `peerAddress`: our receive key id and the opener the peer's sealer must match. */
  const connect = (peerId: string, peerAddress: string) => {
    const conn: FakeConn = { closed: false };
    const ours = ring.offer(conn);
    const theirs = newKeyOffer();
    ring.admitted(conn, { peerId, peerAddress, to }, theirs);
    return { conn, ourKeyId: ours.id, theirs };
  };
  const close = (conn: FakeConn) => {
    conn.closed = true;
    ring.connectionClosed(conn);
  };
  return { ring, connect, close, advance: (ms: number) => void (t += ms) };
}

describe('DatagramKeyring', () => {
  it('keeps an admitted peer\'s keys after its connection closed, sealing with the key it offered', () => {
    const { ring, connect, close } = setup();
    const { conn, ourKeyId, theirs } = connect('n1', '10.0.0.1:7000');
    expect(ring.route(ourKeyId)?.conn).toBe(conn);
    close(conn);
    const route = ring.route(ourKeyId)!;
    expect(route.conn).toBeUndefined();
    expect(route.peer?.peerId).toBe('n1');
    const peer = ring.sendable('10.0.0.1:7000')!;
    expect(new DatagramOpener(theirs).open(peer.sealer!.seal(new Uint8Array([1, 2, 3])))).toEqual(Buffer.from([1, 2, 3]));
    expect(ring.sendable('10.0.0.2:7000')).toBeUndefined();
  });

  it('forgets a key that was never admitted when its connection closes', () => {
    const { ring, close } = setup();
    const conn: FakeConn = { closed: false };
    const offer = ring.offer(conn);
    close(conn);
    expect(ring.route(offer.id)).toBeUndefined();
    expect(ring.size).toBe(0);
  });

  it('holds at most maxPeers, dropping the least recently used; a live connection keeps its own key', () => {
    const { ring, connect, close } = setup({ maxPeers: 2 });
    const p1 = connect('n1', 'a:1');
    const p2 = connect('n2', 'b:1');
    close(p2.conn);
    ring.sendable('a:1'); // n1 used more recently than n2
    const p3 = connect('n3', 'c:1');
    expect(ring.size).toBe(2);
    expect(ring.sendable('b:1')).toBeUndefined();
    expect(ring.route(p2.ourKeyId)).toBeUndefined();
    expect(ring.sendable('a:1')).toBeDefined();
    connect('n4', 'd:1'); // drops n3 (n1 was used last); n3's connection is still open
    expect(ring.sendable('c:1')).toBeUndefined();
    expect(ring.route(p3.ourKeyId)?.conn).toBe(p3.conn);
    expect(ring.route(p3.ourKeyId)?.peer).toBeUndefined();
    close(p3.conn);
    expect(ring.route(p3.ourKeyId)).toBeUndefined();
    expect(ring.route(p1.ourKeyId)).toBeDefined();
  });

  it('stops sealing with a key older than maxAgeMs and drops it', () => {
    const { ring, connect, close, advance } = setup({ maxAgeMs: 10_000 });
    const p = connect('n1', 'a:1');
    close(p.conn);
    advance(10_000);
    expect(ring.sendable('a:1')).toBeDefined();
    advance(1);
    expect(ring.sendable('a:1')).toBeUndefined();
    expect(ring.size).toBe(0);
    expect(ring.route(p.ourKeyId)).toBeUndefined();
    // A new connection re-keys.
    connect('n1', 'a:1');
    expect(ring.sendable('a:1')).toBeDefined();
  });

  it(`per peer keeps the receive keys of live connections and the newest ${KEPT_CLOSED_RECEIVE_KEYS} closed ones`, () => {
    const { ring, connect, close } = setup();
    const conns = [0, 1, 2, 3].map(() => connect('n1', 'a:1'));
    const live = connect('n1', 'a:1');
    for (const c of conns) close(c.conn);
    const kept = conns.map((c) => ring.route(c.ourKeyId) !== undefined);
    expect(kept).toEqual([false, false, true, true]);
    expect(ring.route(live.ourKeyId)?.conn).toBe(live.conn);
    // The newest offer of the peer is the one we seal with.
    expect(new DatagramOpener(live.theirs).open(ring.sendable('a:1')!.sealer!.seal(new Uint8Array([9])))).toEqual(Buffer.from([9]));
  });

  it('another node at a known address replaces the old one\'s keys', () => {
    const { ring, connect, close } = setup();
    const old = connect('n1', 'a:1');
    close(old.conn);
    const fresh = connect('n2', 'a:1');
    expect(ring.route(old.ourKeyId)).toBeUndefined();
    expect(ring.sendable('a:1')?.peerId).toBe('n2');
    expect(ring.route(fresh.ourKeyId)?.peer?.peerId).toBe('n2');
  });

  it('stops sealing for a peer whose newest connection offered no key', () => {
    const { ring, connect, close } = setup();
    const p = connect('n1', 'a:1');
    close(p.conn);
    expect(ring.sendable('a:1')).toBeDefined();
    const conn: FakeConn = { closed: false };
    ring.offer(conn);
    ring.admitted(conn, { peerId: 'n1', peerAddress: 'a:1', to: { host: '127.0.0.1', port: 7000 } }, undefined);
    expect(ring.sendable('a:1')).toBeUndefined();
  });

  it('forget() drops a peer; with maxPeers 0 keys die with their connection', () => {
    const { ring, connect, close } = setup();
    const p = connect('n1', 'a:1');
    close(p.conn);
    expect(ring.forget('a:1')).toBe(true);
    expect(ring.forget('a:1')).toBe(false);
    expect(ring.route(p.ourKeyId)).toBeUndefined();

    const none = setup({ maxPeers: 0 });
    const q = none.connect('n1', 'a:1');
    expect(none.ring.size).toBe(0);
    expect(none.ring.sendable('a:1')).toBeUndefined();
    expect(none.ring.route(q.ourKeyId)?.conn).toBe(q.conn);
    none.close(q.conn);
    expect(none.ring.route(q.ourKeyId)).toBeUndefined();
  });
});
