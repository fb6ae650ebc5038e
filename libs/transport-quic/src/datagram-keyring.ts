/**
 * The endpoint's datagram keys, kept per peer so that they outlive the QUIC connection
 * they were agreed on.
 *
 * Keys are agreed in the hello of an admitted (mutual-TLS) connection: each side offers
 * the key it receives with (datagrams.ts). Before this keyring the keys died with the
 * connection, so a node whose pool is smaller than the cluster (maxTotal 16 in a
 * 100-node cluster) had to dial — a QUIC handshake — for most probes, because the pool
 * had evicted the connection to the member it was probing. Now, once a pair has been
 * admitted, small messages (probes, acks, gossip) keep travelling as sealed datagrams
 * after the pool closes the connection; only large messages (push-pull) need one again.
 *
 * Bounds and retirement:
 * - at most `maxPeers` peers (least recently used dropped first; 0 = keys die with their
 *   connection, the behaviour before the keyring);
 * - a peer's send key is used for at most `maxAgeMs` after it was agreed; after that the
 *   next message dials, and the new connection brings fresh keys both ways;
 * - per peer, the receive keys of live connections plus the newest KEPT_CLOSED_RECEIVE_KEYS
 *   of closed ones (two connections to one peer may close in either order on the two sides);
 * - `forget(peerAddress)`: the runtime drops a peer's keys when a probe to it went
 *   unanswered and nothing came back since (a peer that restarted has lost its keys: the
 *   next message dials it and re-keys).
 *
 * Pure bookkeeping (no I/O, time from the caller): the endpoint routes and sends.
 */
import { DatagramOpener, DatagramSealer, newKeyOffer, type DatagramKeyOffer } from './datagrams.js';

/** Closed connections' receive keys kept per peer, newest first. */
export const KEPT_CLOSED_RECEIVE_KEYS = 2;

/** Where one of our receive keys leads. */
export interface DatagramRoute<C> {
  readonly opener: DatagramOpener;
  /** The connection the key was offered on, while it is open. */
  conn: C | undefined;
  /** The admitted peer, once known (undefined: not admitted yet, or its keys were dropped). */
  peer: DatagramPeer | undefined;
}

/** What we keep of one admitted peer. */
export interface DatagramPeer {
  readonly peerId: string;
  /** Its advertised address (the member address the runtime sends to). */
  readonly peerAddress: string;
  /** Where its datagrams go: the UDP address its connection came from. */
  to: { host: string; port: number };
  /** Seals with the newest key it offered; undefined: it takes no datagrams. */
  sealer: DatagramSealer | undefined;
  /** When that key was agreed (caller's clock). */
  agreedAt: number;
  /** Our receive keys for it, oldest first. */
  readonly receiveKeys: number[];
}

export interface DatagramKeyringOptions {
  maxPeers: number;
  maxAgeMs: number;
  now: () => number;
}

export class DatagramKeyring<C extends { readonly closed: boolean }> {
  private readonly routes = new Map<number, DatagramRoute<C>>();
  private readonly keyOf = new Map<C, number>();
  /** Insertion order is recency of use: the first entry is the least recently used. */
  private readonly peers = new Map<string, DatagramPeer>();

  constructor(private readonly opts: DatagramKeyringOptions) {}

  /** Peers whose keys are kept. */
  get size(): number {
    return this.peers.size;
  }

  /** A fresh receive key for a connection, routed to it at once. */
  offer(conn: C): DatagramKeyOffer {
    let offer = newKeyOffer();
    while (this.routes.has(offer.id)) offer = newKeyOffer();
    this.routes.set(offer.id, { opener: new DatagramOpener(offer), conn, peer: undefined });
    this.keyOf.set(conn, offer.id);
    return offer;
  }

  /**
   * The connection was admitted: its peer is known. `theirs` is the key the peer offered
   * (undefined: it takes no datagrams). Returns the sealer for this connection, if any.
   */
  admitted(conn: C, peer: { peerId: string; peerAddress: string; to: { host: string; port: number } }, theirs: DatagramKeyOffer | undefined): DatagramSealer | undefined {
    const sealer = theirs ? new DatagramSealer(theirs) : undefined;
    if (this.opts.maxPeers === 0) return sealer;
    let rec = this.peers.get(peer.peerAddress);
    if (rec && rec.peerId !== peer.peerId) {
      this.drop(rec); // another node at that address now
      rec = undefined;
    }
    if (!rec) rec = { peerId: peer.peerId, peerAddress: peer.peerAddress, to: peer.to, sealer: undefined, agreedAt: this.opts.now(), receiveKeys: [] };
    // The newest admission says what the peer takes now: a peer that offered no key (restarted
    // with datagrams off) gets no more datagrams under an older one.
    rec.sealer = sealer;
    if (sealer) {
      rec.to = peer.to;
      rec.agreedAt = this.opts.now();
    }
    const id = this.keyOf.get(conn);
    const route = id === undefined ? undefined : this.routes.get(id);
    if (route && id !== undefined) {
      route.peer = rec;
      rec.receiveKeys.push(id);
    }
    this.touch(rec);
    while (this.peers.size > this.opts.maxPeers) this.drop(this.peers.values().next().value as DatagramPeer);
    return sealer;
  }

  /** The connection closed: its receive key stays while its peer's keys are kept. */
  connectionClosed(conn: C): void {
    const id = this.keyOf.get(conn);
    if (id === undefined) return;
    this.keyOf.delete(conn);
    const route = this.routes.get(id);
    if (!route) return;
    route.conn = undefined;
    if (!route.peer) this.routes.delete(id);
    else this.pruneClosed(route.peer);
  }

  route(keyId: number): DatagramRoute<C> | undefined {
    return this.routes.get(keyId);
  }

  /** The peer at this address if we can seal for it (key within its age); marks it used. */
  sendable(peerAddress: string): DatagramPeer | undefined {
    const rec = this.peers.get(peerAddress);
    if (!rec?.sealer) return undefined;
    if (this.opts.now() - rec.agreedAt > this.opts.maxAgeMs) {
      this.drop(rec);
      return undefined;
    }
    this.touch(rec);
    return rec;
  }

  /** Marks a peer used (a datagram came from it). */
  heard(rec: DatagramPeer): void {
    if (this.peers.get(rec.peerAddress) === rec) this.touch(rec);
  }

  /** Drops a peer's keys (receive keys of its open connections stay with those). */
  forget(peerAddress: string): boolean {
    const rec = this.peers.get(peerAddress);
    if (!rec) return false;
    this.drop(rec);
    return true;
  }

  clear(): void {
    this.routes.clear();
    this.keyOf.clear();
    this.peers.clear();
  }

  private touch(rec: DatagramPeer): void {
    this.peers.delete(rec.peerAddress);
    this.peers.set(rec.peerAddress, rec);
  }

  private drop(rec: DatagramPeer): void {
    if (this.peers.get(rec.peerAddress) === rec) this.peers.delete(rec.peerAddress);
    for (const id of rec.receiveKeys) {
      const route = this.routes.get(id);
      if (!route) continue;
      route.peer = undefined;
      if (route.conn === undefined || route.conn.closed) this.routes.delete(id);
    }
    rec.receiveKeys.length = 0;
  }

  /** Keeps the receive keys of live connections and the newest closed ones. */
  private pruneClosed(rec: DatagramPeer): void {
    let closedKept = 0;
    for (let i = rec.receiveKeys.length - 1; i >= 0; i--) {
      const id = rec.receiveKeys[i]!;
      const route = this.routes.get(id);
      const live = route?.conn !== undefined && !route.conn.closed;
      if (route && (live || closedKept++ < KEPT_CLOSED_RECEIVE_KEYS)) continue;
      if (route) this.routes.delete(id);
      rec.receiveKeys.splice(i, 1);
    }
  }
}
