/**
 * The wire messages of the SWIM protocol. Every message names its sender (`from`, the
 * member id) and the address the sender can be reached at (`addr`), so replies never
 * depend on what address a packet appeared to come from (NAT, containers).
 */
import type { MemberUpdate } from './member.js';

/** Version of the message format; the codec writes it into every header. */
export const PROTOCOL_VERSION = 1;

interface Envelope {
  /** Sender's member id. */
  readonly from: string;
  /** Sender's advertised address, "host:port". */
  readonly addr: string;
}

/** Direct probe. `target` is the id the sender believes it is talking to. */
export interface PingMessage extends Envelope {
  readonly type: 'ping';
  readonly seq: number;
  readonly target: string;
  /** Piggybacked updates (the buddy system puts the target's own suspicion first). */
  readonly updates: readonly MemberUpdate[];
}

/** Answer to a ping. When relayed by a ping-req helper, `from`/`addr` name the target. */
export interface AckMessage extends Envelope {
  readonly type: 'ack';
  readonly seq: number;
  readonly updates: readonly MemberUpdate[];
}

/** Ask a helper to probe `target` and relay its ack (or a nack) back. */
export interface PingReqMessage extends Envelope {
  readonly type: 'ping-req';
  readonly seq: number;
  readonly target: string;
  readonly targetAddr: string;
  /** True when the requester wants a nack if the helper gets no ack in time (Lifeguard). */
  readonly wantNack: boolean;
  readonly updates: readonly MemberUpdate[];
}

/** A helper's word that it got no ack from the target in time: the helper itself is healthy. */
export interface NackMessage extends Envelope {
  readonly type: 'nack';
  readonly seq: number;
}

/** Periodic gossip: only sent when there is something to disseminate. */
export interface GossipMessage extends Envelope {
  readonly type: 'gossip';
  readonly updates: readonly MemberUpdate[];
}

/** Full state exchange (anti-entropy and join). `reply` marks the answer to a push-pull. */
export interface PushPullMessage extends Envelope {
  readonly type: 'push-pull';
  readonly join: boolean;
  readonly reply: boolean;
  readonly members: readonly MemberUpdate[];
}

export type Message =
  | PingMessage
  | AckMessage
  | PingReqMessage
  | NackMessage
  | GossipMessage
  | PushPullMessage;

export type MessageType = Message['type'];

export const MESSAGE_TYPES: readonly MessageType[] = ['ping', 'ack', 'ping-req', 'nack', 'gossip', 'push-pull'];
