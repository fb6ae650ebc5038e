/**
 * Counts UDP payload bytes and datagrams at node:dgram, for the whole process.
 *
 * js-quic's QUICSocket creates a plain `dgram` socket, binds `socket.send` once at start()
 * (it promisifies the method it finds on the socket) and listens to the socket's
 * 'message' event. Wrapping `dgram.Socket.prototype.send` and `.emit` before any socket
 * starts therefore sees every datagram the QUIC stack sends or receives: handshakes,
 * stream data, ACK-only packets, keep-alive PINGs, CONNECTION_CLOSE — everything QUIC
 * puts on the wire, as UDP payload (IP and UDP headers, 28 bytes per IPv4 datagram, are
 * not included). A datagram counts as sent when handed to the kernel.
 */
import dgram from 'node:dgram';

export interface UdpCounters {
  txBytes: number;
  txDatagrams: number;
  rxBytes: number;
  rxDatagrams: number;
}

const counters: UdpCounters = { txBytes: 0, txDatagrams: 0, rxBytes: 0, rxDatagrams: 0 };
let installed = false;

function byteLength(x: unknown): number {
  if (typeof x === 'string') return Buffer.byteLength(x);
  if (ArrayBuffer.isView(x)) return x.byteLength;
  return 0;
}

/** Size of the datagram one `socket.send(...)` call puts on the wire. */
export function sendSize(args: readonly unknown[]): number {
  const [msg, a1, a2, a3] = args;
  if (Array.isArray(msg)) return msg.reduce((n: number, m: unknown) => n + byteLength(m), 0);
  // send(msg, offset, length, port[, address][, cb]): offset, length and port are numbers.
  if (typeof a1 === 'number' && typeof a2 === 'number' && typeof a3 === 'number') return a2;
  return byteLength(msg);
}

/** Patches node:dgram once (idempotent). Call before any QUIC socket starts. */
export function installUdpMeter(): void {
  if (installed) return;
  installed = true;
  const proto = dgram.Socket.prototype as unknown as {
    send: (...args: unknown[]) => unknown;
    emit: (event: string | symbol, ...args: unknown[]) => boolean;
  };
  const send = proto.send;
  const emit = proto.emit;
  proto.send = function (this: unknown, ...args: unknown[]) {
    counters.txBytes += sendSize(args);
    counters.txDatagrams++;
    return send.apply(this, args);
  };
  proto.emit = function (this: unknown, event: string | symbol, ...args: unknown[]) {
    if (event === 'message') {
      counters.rxBytes += byteLength(args[0]);
      counters.rxDatagrams++;
    }
    return emit.call(this, event, ...args);
  };
}

export function udpCounters(): UdpCounters {
  return { ...counters };
}
