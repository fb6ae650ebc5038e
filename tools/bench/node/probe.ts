/**
 * Preload for node-app processes under measurement (`node --import <dist>/probe.js …`),
 * active only when SHOAL_BENCH_PROBE_FILE is set. It does nothing on its own (no timer):
 * on SIGUSR2 it writes one JSON snapshot (V8 heap figures, process.memoryUsage(), UDP
 * payload bytes counted at node:dgram) to that file, atomically. UDP counting follows the
 * transport benchmark (tools/bench/transport/udp-meter.ts): Socket.prototype.send and the
 * socket's 'message' event are wrapped before js-quic creates its socket.
 */
import dgram from 'node:dgram';
import { renameSync, writeFileSync } from 'node:fs';
import v8 from 'node:v8';

export interface ProbeSnapshot {
  at: number;
  memory: NodeJS.MemoryUsage;
  heap: { totalPhysical: number; totalHeap: number; usedHeap: number; malloced: number; external: number };
  spaces: Record<string, number>;
  udp: { txBytes: number; txDatagrams: number; rxBytes: number; rxDatagrams: number };
}

const file = process.env['SHOAL_BENCH_PROBE_FILE'];
if (file) {
  const udp = { txBytes: 0, txDatagrams: 0, rxBytes: 0, rxDatagrams: 0 };
  const size = (x: unknown): number => (typeof x === 'string' ? Buffer.byteLength(x) : ArrayBuffer.isView(x) ? x.byteLength : 0);
  const proto = dgram.Socket.prototype as unknown as { send: (...a: unknown[]) => unknown; emit: (e: string | symbol, ...a: unknown[]) => boolean };
  const send = proto.send;
  const emit = proto.emit;
  proto.send = function (this: unknown, ...args: unknown[]) {
    const [msg, a1, a2, a3] = args;
    udp.txBytes += Array.isArray(msg)
      ? msg.reduce((n: number, m: unknown) => n + size(m), 0)
      : typeof a1 === 'number' && typeof a2 === 'number' && typeof a3 === 'number'
        ? a2
        : size(msg);
    udp.txDatagrams++;
    return send.apply(this, args);
  };
  proto.emit = function (this: unknown, event: string | symbol, ...args: unknown[]) {
    if (event === 'message') {
      udp.rxBytes += size(args[0]);
      udp.rxDatagrams++;
    }
    return emit.call(this, event, ...args);
  };
  process.on('SIGUSR2', () => {
    try {
      const h = v8.getHeapStatistics();
      const snap: ProbeSnapshot = {
        at: Date.now(),
        memory: process.memoryUsage(),
        heap: { totalPhysical: h.total_physical_size, totalHeap: h.total_heap_size, usedHeap: h.used_heap_size, malloced: h.malloced_memory, external: h.external_memory },
        spaces: Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.physical_space_size])),
        udp: { ...udp },
      };
      writeFileSync(`${file}.tmp`, JSON.stringify(snap));
      renameSync(`${file}.tmp`, file);
    } catch {
      // a probe must never disturb the node
    }
  });
}
