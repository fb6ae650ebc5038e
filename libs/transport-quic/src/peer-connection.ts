/**
 * One admitted QUIC connection to a peer, carrying length-prefixed frames on a single
 * long-lived bidirectional stream (the client opens it; see STACK-NOTES for why one
 * stream). Created by QuicEndpoint; handed out only after the application hello.
 *
 * - `send()` never throws: frames written in the same tick go out in one stream write;
 *   a failed or overflowing stream closes the connection (counted). An over-size payload
 *   is dropped and counted (`sendErrors`) and leaves the connection open.
 * - Malformed or over-size incoming frames close the connection (`badFrames`).
 * - 'message' events emitted before any 'message' listener exists are held (up to
 *   `MAX_PENDING_MESSAGES`) and delivered when the first listener is attached.
 * - Messages up to the endpoint's `maxDatagramPayloadBytes` travel as sealed datagrams
 *   instead (datagrams.ts) when both sides offered datagram keys in their hellos.
 * - Satisfies the pool's `PoolConnection` shape: `peer`, `closed`, `close()`, `onClose()`.
 */
import type { QUICConnection, QUICStream } from '@matrixai/quic';
import { errors as quicErrors, events as quicEvents } from '@matrixai/quic';
import type { Logger } from 'pino';
import { FrameError } from './errors.js';
import { FRAME_HEADER_BYTES, FrameDecoder, FrameWriter } from './framing.js';
import { reasonForCryptoCode } from './tls/alerts.js';

/** Messages held while nobody listens for 'message'; beyond this they are dropped (counted). */
export const MAX_PENDING_MESSAGES = 1024;
/** Frames after the hello that arrive before admission are held up to this many. */
export const MAX_PRE_ADMISSION_FRAMES = 64;

/** Counters shared by an endpoint and all its connections. */
export interface TransportCounters {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Malformed / over-size frames received (each closed its connection). */
  badFrames: number;
  /** Sends that failed (over-size payload, full or failed send queue). */
  sendErrors: number;
  /** Sends on a closed connection. */
  sendDropped: number;
  /** Frames dropped by the fault hook. */
  faultDropped: number;
  /** Messages dropped because nobody listened and the hold queue was full. */
  pendingDropped: number;
  /** Messages received / sent as sealed datagrams (datagrams.ts) instead of stream frames. */
  datagramsIn: number;
  datagramsOut: number;
  /** Sealed datagrams dropped: key id unknown (no such connection, or closed), tag not verified, counter replayed. */
  datagramsUnknownKey: number;
  datagramsBadTag: number;
  datagramsReplayed: number;
}

export function newCounters(): TransportCounters {
  return {
    framesIn: 0,
    framesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    badFrames: 0,
    sendErrors: 0,
    sendDropped: 0,
    faultDropped: 0,
    pendingDropped: 0,
    datagramsIn: 0,
    datagramsOut: 0,
    datagramsUnknownKey: 0,
    datagramsBadTag: 0,
    datagramsReplayed: 0,
  };
}

export type PeerDirection = 'inbound' | 'outbound';

/** Why a connection closed: 'local-close', 'endpoint-stopped', 'peer-closed', 'idle-timeout', 'stream-ended', 'stream-reset' (peer reset the stream or closed the connection), 'bad-frame:<reason>', 'send-failed', 'hello-…', 'peer-refused-tls:<reason>' … */
export type CloseReason = string;

export interface PeerConnectionEvents {
  /** `receivedAt`: for a datagram, the endpoint clock's time when it came off the socket (before it was opened). */
  message: (payload: Uint8Array, receivedAt?: number) => void;
  close: (reason: CloseReason) => void;
}

/** What the endpoint gives a connection. Internal. */
export interface PeerConnectionInit {
  direction: PeerDirection;
  connection: QUICConnection;
  stream: QUICStream;
  /** Force-closes the whole QUIC connection (client.destroy / connection.stop). */
  destroy: () => Promise<void>;
  /** "host:port" the UDP packets come from. */
  remoteAddress: string;
  maxFrameBytes: number;
  maxQueuedBytes: number;
  counters: TransportCounters;
  /** Fault injection: true drops this connection's application frames both ways. */
  isBlocked: (conn: PeerConnection) => boolean;
  logger: Logger;
  onClosed: (conn: PeerConnection, reason: CloseReason) => void;
}

type Listener<K extends keyof PeerConnectionEvents> = PeerConnectionEvents[K];

export class PeerConnection {
  readonly direction: PeerDirection;
  /** "host:port" the peer's packets come from (may differ from the advertised address). */
  readonly remoteAddress: string;
  /** Date.now() of the last frame in or out. */
  lastActivity: number = Date.now();

  private _peerId = '';
  private _peerAddress = '';
  private admitted = false;
  private _closed = false;
  private _closeReason: CloseReason | undefined;
  private closePromise: Promise<void> | undefined;
  private quicError: unknown;

  private readonly connection: QUICConnection;
  private readonly stream: QUICStream;
  private readonly destroyTransport: () => Promise<void>;
  private readonly counters: TransportCounters;
  private readonly isBlocked: (conn: PeerConnection) => boolean;
  private readonly onClosedHook: (conn: PeerConnection, reason: CloseReason) => void;
  private logger: Logger;
  private readonly decoder: FrameDecoder;
  private readonly writer: FrameWriter;
  private readonly streamWriter: WritableStreamDefaultWriter<Uint8Array>;
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;

  private readonly messageListeners = new Set<Listener<'message'>>();
  private readonly closeListeners = new Set<Listener<'close'>>();
  private pendingMessages: Uint8Array[] = [];
  /** Frames read before admission: the first is the hello (or its answer). */
  private preFrames: Uint8Array[] = [];
  private helloWaiter: { resolve: (f: Uint8Array) => void; reject: (e: Error) => void } | undefined;
  /**
   * Seals and sends one datagram to the peer, up to maxPayload bytes, counting it (the
   * endpoint's; false: not sent); set when both sides agreed on datagrams.
   */
  private datagrams: { send: (payload: Uint8Array) => boolean; maxPayload: number } | undefined;
  /** Datagrams that arrived before admission (delivered after the frames held with the hello). */
  private preDatagrams: Uint8Array[] = [];

  /** @internal Created by QuicEndpoint. */
  constructor(init: PeerConnectionInit) {
    this.direction = init.direction;
    this.connection = init.connection;
    this.stream = init.stream;
    this.destroyTransport = init.destroy;
    this.remoteAddress = init.remoteAddress;
    this.counters = init.counters;
    this.isBlocked = init.isBlocked;
    this.onClosedHook = init.onClosed;
    this.logger = init.logger.child({ direction: init.direction, remote: init.remoteAddress });
    this.decoder = new FrameDecoder({ maxFrameBytes: init.maxFrameBytes });
    this.streamWriter = this.stream.writable.getWriter();
    this.streamWriter.closed.catch(() => {});
    this.writer = new FrameWriter((chunk) => this.streamWriter.write(chunk), {
      maxFrameBytes: init.maxFrameBytes,
      maxQueuedBytes: init.maxQueuedBytes,
      onError: (e) => this.onWriterError(e),
    });
    this.watchTransport();
    void this.readLoop();
  }

  /** Node id of the peer (from its certificate, confirmed by its hello). */
  get peerId(): string {
    return this._peerId;
  }

  /** Advertised "host:port" of the peer, from its hello. */
  get peerAddress(): string {
    return this._peerAddress;
  }

  /** PoolConnection: the peer's advertised address. */
  get peer(): string {
    return this._peerAddress;
  }

  get closed(): boolean {
    return this._closed;
  }

  get closeReason(): CloseReason | undefined {
    return this._closeReason;
  }

  on<K extends keyof PeerConnectionEvents>(event: K, listener: PeerConnectionEvents[K]): this {
    if (event === 'message') {
      this.messageListeners.add(listener as Listener<'message'>);
      if (this.pendingMessages.length > 0) {
        const held = this.pendingMessages;
        this.pendingMessages = [];
        queueMicrotask(() => {
          for (const m of held) this.deliver(m);
        });
      }
    } else if (event === 'close') {
      this.closeListeners.add(listener as Listener<'close'>);
    }
    return this;
  }

  off<K extends keyof PeerConnectionEvents>(event: K, listener: PeerConnectionEvents[K]): this {
    if (event === 'message') this.messageListeners.delete(listener as Listener<'message'>);
    else if (event === 'close') this.closeListeners.delete(listener as Listener<'close'>);
    return this;
  }

  /** PoolConnection: called once when the connection closes (at once, asynchronously, if it already has). */
  onClose(listener: () => void): void {
    if (this._closed) {
      queueMicrotask(() => this.safeCall(listener));
      return;
    }
    this.closeListeners.add(() => listener());
  }

  /** Whether small messages to this peer go as sealed datagrams. */
  get usesDatagrams(): boolean {
    return this.datagrams !== undefined;
  }

  /**
   * Sends one message. Never throws. Up to the endpoint's `maxDatagramPayloadBytes` it
   * goes as one sealed datagram when both sides agreed on datagrams (unreliable, like UDP);
   * otherwise it is queued as a frame on the stream.
   */
  send(payload: Uint8Array): void {
    if (this._closed || !this.admitted) {
      this.counters.sendDropped++;
      return;
    }
    if (this.isBlocked(this)) {
      this.counters.faultDropped++;
      return;
    }
    if (this.datagrams && payload.byteLength <= this.datagrams.maxPayload) {
      if (this.datagrams.send(payload)) this.lastActivity = Date.now();
      return;
    }
    try {
      this.writer.write(payload);
    } catch (e) {
      if (e instanceof FrameError && e.reason === 'oversize') {
        this.counters.sendErrors++;
        this.logger.warn({ peer: this._peerId, bytes: payload?.byteLength, err: e.message }, 'over-size frame not sent');
        return;
      }
      // queue-full / failed writer: onWriterError closes the connection.
      this.counters.sendErrors++;
      return;
    }
    this.counters.framesOut++;
    this.counters.bytesOut += payload.byteLength + FRAME_HEADER_BYTES;
    this.lastActivity = Date.now();
  }

  /** Force-closes the connection. Idempotent. */
  close(): Promise<void> {
    return this.shutdown('local-close');
  }

  // ---- internal API used by QuicEndpoint ---------------------------------------------

  /** @internal Writes a control frame (hello / answer), bypassing admission and faults. */
  sendControl(payload: Uint8Array): void {
    if (this._closed) return;
    try {
      this.writer.write(payload);
    } catch {
      // a failed writer closes the connection through onWriterError
    }
  }

  /** @internal Small messages to the peer go through `send` (sealing + UDP) from now on. */
  enableDatagrams(send: (payload: Uint8Array) => boolean, maxPayload: number): void {
    this.datagrams = { send, maxPayload };
  }

  /** @internal A message that arrived as a sealed datagram for this connection (already opened) at `receivedAt`. */
  receiveDatagram(payload: Uint8Array, receivedAt?: number): void {
    if (this._closed) {
      this.counters.datagramsUnknownKey++;
      return;
    }
    if (!this.admitted) {
      // The peer read our hello and talks before we have read its answer: hold, bounded.
      if (this.preDatagrams.length >= MAX_PRE_ADMISSION_FRAMES) {
        this.counters.pendingDropped++;
        return;
      }
      this.preDatagrams.push(payload);
      return;
    }
    this.onAppFrame(payload, 'datagram', receivedAt);
  }

  /** @internal Resolves when everything written so far went to the stream (bounded by `timeoutMs`). */
  async flush(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.writer.flush(),
      new Promise<void>((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /** @internal Resolves when the connection has closed (true) or after `timeoutMs` (false). */
  waitClosed(timeoutMs: number): Promise<boolean> {
    if (this._closed) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.closeListeners.delete(onClose);
        resolve(false);
      }, timeoutMs);
      const onClose = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.closeListeners.add(onClose);
    });
  }

  /** @internal The first frame on the stream (the hello or its answer), within `timeoutMs`. */
  firstFrame(timeoutMs: number): Promise<Uint8Array> {
    const early = this.preFrames.shift();
    if (early) return Promise.resolve(early);
    if (this._closed) return Promise.reject(new HelloAborted(this.describeClose()));
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.helloWaiter = undefined;
        reject(new HelloTimeout());
      }, timeoutMs);
      this.helloWaiter = {
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  /** @internal Marks the connection usable; frames that came after the hello are delivered. */
  admit(peerId: string, peerAddress: string): void {
    this._peerId = peerId;
    this._peerAddress = peerAddress;
    this.admitted = true;
    this.logger = this.logger.child({ peer: peerId, peerAddress });
    const early = this.preFrames;
    this.preFrames = [];
    for (const f of early) this.onAppFrame(f);
    const earlyDatagrams = this.preDatagrams;
    this.preDatagrams = [];
    for (const d of earlyDatagrams) this.onAppFrame(d, 'datagram');
  }

  /**
   * @internal Closes with a reason (used for hello failures and endpoint stop). With
   * `destroy: false` the QUIC connection is left to its owner (the server's stop).
   */
  shutdown(reason: CloseReason, opts: { destroy?: boolean } = {}): Promise<void> {
    if (this.closePromise) return this.closePromise;
    this._closed = true;
    this._closeReason = reason;
    this.pendingMessages = [];
    this.preFrames = [];
    this.preDatagrams = [];
    try {
      this.writer.close();
      const waiter = this.helloWaiter;
      this.helloWaiter = undefined;
      waiter?.reject(new HelloAborted(this.describeClose()));
    } catch (e) {
      this.logger.error({ err: e }, 'closing the connection state failed');
    }
    try {
      this.onClosedHook(this, reason);
    } catch (e) {
      this.logger.error({ err: e }, 'close hook failed');
    }
    if (this.admitted) this.logger.debug({ reason }, 'connection closed');
    for (const l of [...this.closeListeners]) this.safeCall(() => l(reason));
    this.closeListeners.clear();
    this.closePromise = (async () => {
      try {
        await this.reader?.cancel().catch(() => {});
      } catch {
        // ignore
      }
      if (opts.destroy === false) return;
      try {
        await this.destroyTransport();
      } catch (e) {
        this.logger.debug({ err: e }, 'destroying the QUIC connection failed');
      }
    })();
    return this.closePromise;
  }

  /** @internal The QUIC-level reason the connection ended, if it has. */
  describeClose(): CloseReason {
    return this._closeReason ?? reasonFromQuicError(this.quicError) ?? 'closed';
  }

  /** @internal The last error js-quic reported for this connection (TLS alerts, idle timeout …). */
  get lastQuicError(): unknown {
    return this.quicError;
  }

  // ---- private -----------------------------------------------------------------------

  private watchTransport(): void {
    const onError = (evt: Event) => {
      try {
        this.quicError = (evt as unknown as { detail: unknown }).detail;
      } catch {
        // never throw inside a js-quic handler
      }
    };
    this.connection.addEventListener(quicEvents.EventQUICConnectionError.name, onError);
    this.connection.closedP.then(
      () => {
        this.connection.removeEventListener(quicEvents.EventQUICConnectionError.name, onError);
        if (!this._closed) void this.shutdown(reasonFromQuicError(this.quicError) ?? 'connection-closed');
      },
      () => {
        if (!this._closed) void this.shutdown('connection-closed');
      },
    );
  }

  private async readLoop(): Promise<void> {
    try {
      const reader = this.stream.readable.getReader();
      this.reader = reader;
      for (;;) {
        const { value, done } = await reader.read();
        if (this._closed) return;
        if (done) {
          try {
            this.decoder.end();
          } catch (e) {
            this.onBadFrame(e);
            return;
          }
          void this.shutdown(reasonFromQuicError(this.quicError) ?? 'stream-ended');
          return;
        }
        let frames: Uint8Array[];
        try {
          frames = this.decoder.push(value);
        } catch (e) {
          this.onBadFrame(e);
          return;
        }
        for (const f of frames) {
          if (this._closed) return;
          if (this.admitted) this.onAppFrame(f);
          else this.onPreAdmissionFrame(f);
        }
      }
    } catch (e) {
      if (!this._closed) {
        this.logger.debug({ err: errMessage(e) }, 'stream read failed');
        void this.shutdown(reasonFromQuicError(this.quicError) ?? 'stream-reset');
      }
    }
  }

  private onPreAdmissionFrame(frame: Uint8Array): void {
    const waiter = this.helloWaiter;
    if (waiter) {
      this.helloWaiter = undefined;
      waiter.resolve(frame);
      return;
    }
    if (this.preFrames.length >= MAX_PRE_ADMISSION_FRAMES) {
      this.counters.badFrames++;
      void this.shutdown('hello-flood');
      return;
    }
    this.preFrames.push(frame);
  }

  private onAppFrame(frame: Uint8Array, via: 'stream' | 'datagram' = 'stream', receivedAt?: number): void {
    if (this.isBlocked(this)) {
      this.counters.faultDropped++;
      return;
    }
    if (via === 'stream') {
      this.counters.framesIn++;
      this.counters.bytesIn += frame.byteLength + FRAME_HEADER_BYTES;
    } else {
      this.counters.datagramsIn++;
      this.counters.bytesIn += frame.byteLength;
    }
    this.lastActivity = Date.now();
    if (this.messageListeners.size === 0) {
      if (this.pendingMessages.length >= MAX_PENDING_MESSAGES) {
        this.counters.pendingDropped++;
        return;
      }
      this.pendingMessages.push(frame);
      return;
    }
    this.deliver(frame, receivedAt);
  }

  private deliver(frame: Uint8Array, receivedAt?: number): void {
    for (const l of [...this.messageListeners]) this.safeCall(() => l(frame, receivedAt));
  }

  private onBadFrame(e: unknown): void {
    this.counters.badFrames++;
    const reason = e instanceof FrameError ? e.reason : 'malformed';
    this.logger.warn({ peer: this._peerId || undefined, reason, err: errMessage(e) }, 'bad frame: closing connection');
    void this.shutdown(`bad-frame:${reason}`);
  }

  private onWriterError(e: unknown): void {
    if (this._closed) return;
    const reason = e instanceof FrameError ? e.reason : 'stream-write';
    this.logger.warn({ peer: this._peerId || undefined, reason, err: errMessage(e) }, 'send failed: closing connection');
    void this.shutdown(`send-failed:${reason}`);
  }

  private safeCall(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.logger.error({ err: e }, 'connection listener threw');
    }
  }
}

/** Thrown by firstFrame() when the hello does not arrive in time. */
export class HelloTimeout extends Error {
  constructor() {
    super('hello timed out');
  }
}

/** Thrown by firstFrame() when the connection closed first. */
export class HelloAborted extends Error {
  constructor(readonly reason: CloseReason) {
    super(`connection closed before the hello: ${reason}`);
  }
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Maps a js-quic connection error to a close reason. */
export function reasonFromQuicError(e: unknown): CloseReason | undefined {
  if (e == null) return undefined;
  const code = (e as { data?: { errorCode?: number } }).data?.errorCode;
  if (e instanceof quicErrors.ErrorQUICConnectionPeerTLS) return `peer-refused-tls:${reasonForCryptoCode(code)}`;
  if (e instanceof quicErrors.ErrorQUICConnectionLocalTLS) return `refused-tls:${reasonForCryptoCode(code)}`;
  if (e instanceof quicErrors.ErrorQUICConnectionIdleTimeout) return 'idle-timeout';
  if (e instanceof quicErrors.ErrorQUICConnectionPeer) return 'peer-closed';
  if (e instanceof quicErrors.ErrorQUICConnectionLocal) return 'local-close';
  return undefined;
}
