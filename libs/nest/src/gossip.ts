import { Injectable } from '@nestjs/common';
import type { MessageType } from '@shoal/core';
import { ShoalStatsReader } from './stats-reader.js';

export interface GossipStats {
  /** Updates still waiting to be piggybacked. */
  queuedBroadcasts: number;
  /** Protocol messages sent and received, by type. */
  sent: Record<MessageType, number>;
  received: Record<MessageType, number>;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Frames that did not decode (dropped). */
  malformed: number;
  /** Sends that failed (no connection, pool exhausted …). */
  sendFailures: number;
  /** Updates refused on receipt (tag limit, member table full). */
  updatesRejected: number;
}

/** Dissemination statistics. */
@Injectable()
export class Gossip {
  constructor(private readonly reader: ShoalStatsReader) {}

  stats(): GossipStats {
    const s = this.reader.read();
    return {
      queuedBroadcasts: s.queuedBroadcasts,
      sent: s.swim.sent,
      received: s.swim.received,
      messagesIn: s.runtime.messagesIn,
      messagesOut: s.runtime.messagesOut,
      bytesIn: s.runtime.bytesIn,
      bytesOut: s.runtime.bytesOut,
      malformed: s.runtime.malformed,
      sendFailures: s.runtime.sendFailures,
      updatesRejected: s.swim.updatesRejected,
    };
  }
}
