/**
 * Preload for node-app processes under measurement (`node --import <dist>/probe.js …`),
 * active only when SHOAL_BENCH_PROBE_FILE is set. It does nothing on its own (no timer):
 * on SIGUSR2 it writes one JSON snapshot (V8 heap figures, process.memoryUsage(), UDP
 * payload bytes counted at node:dgram) to that file, atomically. UDP counting is the
 * transport benchmark's (tools/bench/lib/udp-meter.ts), installed before js-quic creates
 * its socket.
 */
import { renameSync, writeFileSync } from 'node:fs';
import v8 from 'node:v8';
import { installUdpMeter, udpCounters, type UdpCounters } from '../lib/udp-meter.js';

export interface ProbeSnapshot {
  at: number;
  memory: NodeJS.MemoryUsage;
  heap: { totalPhysical: number; totalHeap: number; usedHeap: number; malloced: number; external: number };
  spaces: Record<string, number>;
  udp: UdpCounters;
}

const file = process.env['SHOAL_BENCH_PROBE_FILE'];
if (file) {
  installUdpMeter();
  process.on('SIGUSR2', () => {
    try {
      const h = v8.getHeapStatistics();
      const snap: ProbeSnapshot = {
        at: Date.now(),
        memory: process.memoryUsage(),
        heap: { totalPhysical: h.total_physical_size, totalHeap: h.total_heap_size, usedHeap: h.used_heap_size, malloced: h.malloced_memory, external: h.external_memory },
        spaces: Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.physical_space_size])),
        udp: udpCounters(),
      };
      writeFileSync(`${file}.tmp`, JSON.stringify(snap));
      renameSync(`${file}.tmp`, file);
    } catch {
      // a probe must never disturb the node
    }
  });
}
