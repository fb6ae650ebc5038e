/**
 * Where a node's time goes, per message stage, measured inside real node processes: a
 * preload that wraps the transport's and the core's per-message methods with a wall-clock
 * timer and writes, every 5 s, how many times each ran and how long it took in all to
 * `$SHOAL_STAGE_DIR/stages-<pid>.json`. `stage-report.js` sums those files into a table.
 *
 *   mkdir -p /tmp/stages && SHOAL_STAGE_DIR=/tmp/stages \
 *     NODE_OPTIONS="--import=$PWD/tools/bench/transport/dist/transport/stage-timer.js" \
 *     node tools/bench/transport/dist/transport/bench-transport.js --no-docs --phases=steady --configs=lean
 *   node tools/bench/transport/dist/transport/stage-report.js /tmp/stages
 *
 * The stages nest (a datagram's handling includes its open and the runtime's onMessage,
 * which includes the core's receive and the sends it causes); the times are wall time, so
 * on this VM they are mostly the cost of touching code and data the first time after an
 * idle wait. For finding what to shrink, not a benchmark figure: the wrappers add their own
 * small cost.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { SwimNode } from '@shoal/core';
import { DatagramOpener, DatagramSealer, DeadlineTimer, NodeRuntime, QuicEndpoint } from '@shoal/transport-quic';

/** Stage name → the method timed (on the prototype). */
export const STAGES: readonly [string, object, string][] = [
  ['endpoint: a datagram, whole (open + runtime.onMessage)', QuicEndpoint.prototype, 'onDatagram'],
  ['datagram open (ChaCha20-Poly1305 + replay window)', DatagramOpener.prototype, 'open'],
  ['datagram seal', DatagramSealer.prototype, 'seal'],
  ['runtime.onMessage (decode, core.receive, the sends it causes)', NodeRuntime.prototype, 'onMessage'],
  ['runtime.run (a core call, its effects, re-arming the timer)', NodeRuntime.prototype, 'run'],
  ['runtime.send (encode, pool lookup, seal, socket send)', NodeRuntime.prototype, 'send'],
  ['core.receive', SwimNode.prototype, 'receive'],
  ['core.tick (timer due)', SwimNode.prototype, 'tick'],
  ['timer.arm', DeadlineTimer.prototype, 'arm'],
];

export interface StageTotals {
  [stage: string]: { calls: number; us: number };
}

const dir = process.env['SHOAL_STAGE_DIR'];
if (dir) {
  const totals: StageTotals = {};
  for (const [stage, proto, method] of STAGES) {
    const target = proto as Record<string, unknown>;
    const original = target[method];
    if (typeof original !== 'function') throw new Error(`stage-timer: ${method} is not a method any more (${stage})`);
    const entry = (totals[stage] = { calls: 0, us: 0 });
    target[method] = function timed(this: unknown, ...args: unknown[]): unknown {
      const started = process.hrtime.bigint();
      try {
        return (original as (...a: unknown[]) => unknown).apply(this, args);
      } finally {
        entry.calls++;
        entry.us += Number(process.hrtime.bigint() - started) / 1000;
      }
    };
  }
  const file = path.join(dir, `stages-${process.pid}.json`);
  setInterval(() => {
    try {
      writeFileSync(file, JSON.stringify(totals));
    } catch {
      // the directory went away: nothing to report to
    }
  }, 5000).unref();
}
