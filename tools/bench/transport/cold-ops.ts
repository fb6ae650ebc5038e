/**
 * What one per-message operation costs COLD: the first call after the process has been
 * idle for a while, as a membership node runs (it wakes a few times a second and sleeps in
 * between). One process; every `--gap-ms` (default 250) it wakes, runs one operation once
 * (timed: cold) and again right after (timed: warm), going round the operations so each
 * one's cold call follows a wait. Prints the median of each, in µs.
 *
 *   npx tsc -p tools/bench/transport/tsconfig.json
 *   node --max-semi-space-size=1 --single-threaded tools/bench/transport/dist/transport/cold-ops.js [--rounds=100] [--gap-ms=250]
 *
 * Found (2026-11-28, session 6): an ack's encode took 330-550 µs cold when the caller
 * passed `{ maxMessageBytes }` and the codec resolved its limits on every call, 50-200 µs
 * with limits resolved once — 3-6 µs warm either way. For finding what to shrink, not a
 * benchmark figure: the machine's hour moves every number here.
 */
import { decode, encode, resolveCodecLimits, type Message } from '@shoal/core';
import { DatagramOpener, DatagramSealer, newKeyOffer } from '@shoal/transport-quic';
import { BenchOptions } from '../lib/args.js';
import { median, round, table } from '../lib/stats.js';

const o = new BenchOptions('cold-ops', process.argv.slice(2), { rounds: 'string', 'gap-ms': 'string' });
const rounds = o.int('rounds', 5, 10_000, 100);
const gapMs = o.int('gap-ms', 1, 10_000, 250);
/** Rounds run first and not counted (module loading, first compilations). */
const WARM_UP_ROUNDS = 4;

const limits = resolveCodecLimits({ maxMessageBytes: 1200 });
const ack: Message = { type: 'ack', from: 'n007', addr: '127.0.0.1:40123', seq: 12345, updates: [] };
const ping: Message = { type: 'ping', from: 'n007', addr: '127.0.0.1:40123', seq: 12345, target: 'n011', updates: [] };
const pingBytes = encode(ping, limits);
const offer = newKeyOffer();
const sealer = new DatagramSealer(offer);
const opener = new DatagramOpener(offer);
// Each open needs a datagram not seen before (the replay window): sealed up front.
const sealed = Array.from({ length: 2 * (rounds + WARM_UP_ROUNDS) }, () => sealer.seal(pingBytes));
let nextSealed = 0;

const OPS: Record<string, () => unknown> = {
  'encode an ack, limits given per call ({ maxMessageBytes })': () => encode(ack, { maxMessageBytes: 1200 }),
  'encode an ack, limits resolved once': () => encode(ack, limits),
  'encode an ack, default limits': () => encode(ack),
  'decode a ping, limits resolved once': () => decode(pingBytes, limits),
  'seal a ping (ChaCha20-Poly1305)': () => sealer.seal(pingBytes),
  'open a sealed ping': () => opener.open(sealed[nextSealed++]!),
  'new Uint8Array(60) (a floor)': () => new Uint8Array(60),
};
const names = Object.keys(OPS);
const cold = new Map<string, number[]>(names.map((n) => [n, []]));
const warm = new Map<string, number[]>(names.map((n) => [n, []]));

let i = 0;
const total = (rounds + WARM_UP_ROUNDS) * names.length;
function step(): void {
  const name = names[i % names.length]!;
  const op = OPS[name]!;
  const t0 = performance.now();
  op();
  const t1 = performance.now();
  op();
  const t2 = performance.now();
  if (i >= WARM_UP_ROUNDS * names.length) {
    cold.get(name)!.push((t1 - t0) * 1000);
    warm.get(name)!.push((t2 - t1) * 1000);
  }
  if (++i < total) {
    if (i % (names.length * 10) === 0) process.stderr.write(`cold-ops: ${Math.floor(i / names.length)}/${rounds + WARM_UP_ROUNDS} rounds\n`);
    setTimeout(step, gapMs);
    return;
  }
  process.stdout.write(
    `${table(
      ['operation', `cold µs (first call after ${gapMs} ms idle), median`, 'warm µs (second call), median'],
      names.map((n) => [n, String(round(median(cold.get(n)!), 1)), String(round(median(warm.get(n)!), 1))]),
    )}\n(${rounds} rounds of ${names.length} operations, one operation per wake)\n`,
  );
}
process.stderr.write(`cold-ops: ${rounds} rounds × ${names.length} operations, one every ${gapMs} ms (about ${Math.round((total * gapMs) / 1000)} s)\n`);
setTimeout(step, gapMs);
