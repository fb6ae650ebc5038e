/**
 * Checks the benchmark's UDP byte counting (lib/udp-meter.ts, inside each node process)
 * against the kernel: a 3-node cluster, one process per node, runs for 20 s in a private
 * network namespace (`unshare -n`, needs root), where nothing else uses the loopback
 * interface. Passes when lo's packet count equals the datagrams the meters counted and lo's
 * byte count equals the meters' payload bytes plus 28 bytes (IPv4 + UDP headers) per packet.
 *
 * Run (after the bench is built): node tools/bench/transport/dist/transport/verify-wire.js
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createClusterCa, issueNodeCertificate } from '@shoal/transport-quic';
import { BenchChild, installCleanup, stopAll } from './children.js';

const IN_NETNS = 'SHOAL_VERIFY_WIRE_NETNS';
const RUN_S = 20;

if (process.env[IN_NETNS] !== '1') {
  const r = spawnSync('unshare', ['-n', process.execPath, fileURLToPath(import.meta.url)], { stdio: 'inherit', env: { ...process.env, [IN_NETNS]: '1' } });
  if (r.error || r.status === null) {
    process.stderr.write(`verify-wire: cannot run "unshare -n" (${r.error?.message ?? `signal ${r.signal}`}); it needs root and util-linux\n`);
    process.exit(2);
  }
  process.exit(r.status);
}

function loTx(): { bytes: number; packets: number } {
  // Netlink (ip) reports the namespace's own lo; /sys/class/net would show the host's.
  const j = JSON.parse(execFileSync('ip', ['-s', '-j', 'link', 'show', 'lo'], { encoding: 'utf8' })) as { stats64: { tx: { bytes: number; packets: number } } }[];
  return { bytes: j[0]!.stats64.tx.bytes, packets: j[0]!.stats64.tx.packets };
}

installCleanup();
execFileSync('ip', ['link', 'set', 'lo', 'up']);
const ca = await createClusterCa();
const kids = [0, 1, 2].map((i) => new BenchChild(`n${i}`, { maxLifetimeMs: 5 * 60_000 }));
try {
  await Promise.all(kids.map((k) => k.ready()));
  const lo0 = loTx();
  const s0 = await Promise.all(kids.map((k) => k.sample()));
  let seed: string | undefined;
  for (let i = 0; i < kids.length; i++) {
    const leaf = await issueNodeCertificate(ca, { nodeId: `n${i}` });
    const r = await kids[i]!.request(
      {
        type: 'start-nodes',
        cluster: 'verify',
        preset: 'lan',
        seeds: seed ? [seed] : [],
        nodes: [{ id: `n${i}`, tls: { caPem: ca.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem } }],
      },
      30_000,
    );
    seed ??= (r['addresses'] as string[])[0];
  }
  await new Promise((r) => setTimeout(r, RUN_S * 1000));
  const s1 = await Promise.all(kids.map((k) => k.sample()));
  const lo1 = loTx();
  const sum = (f: (i: number) => number) => kids.reduce((a, _, i) => a + f(i), 0);
  const meter = {
    txBytes: sum((i) => s1[i]!.udp.txBytes - s0[i]!.udp.txBytes),
    txDatagrams: sum((i) => s1[i]!.udp.txDatagrams - s0[i]!.udp.txDatagrams),
    rxBytes: sum((i) => s1[i]!.udp.rxBytes - s0[i]!.udp.rxBytes),
    rxDatagrams: sum((i) => s1[i]!.udp.rxDatagrams - s0[i]!.udp.rxDatagrams),
  };
  const lo = { bytes: lo1.bytes - lo0.bytes, packets: lo1.packets - lo0.packets };
  const ok = lo.packets === meter.txDatagrams && meter.rxDatagrams === meter.txDatagrams && lo.bytes === meter.txBytes + 28 * lo.packets;
  process.stdout.write(`${JSON.stringify({ seconds: RUN_S, meter, lo, headerBytesPerPacket: lo.packets ? (lo.bytes - meter.txBytes) / lo.packets : null, ok })}\n`);
  await stopAll(kids, 10_000);
  process.exit(ok ? 0 : 1);
} catch (e) {
  process.stderr.write(`verify-wire failed: ${e instanceof Error ? e.message : String(e)}\n`);
  await stopAll(kids, 10_000);
  process.exit(1);
}
