/**
 * Demo: a simulated 3-node Shoal cluster on the deterministic simulator. The nodes join
 * through one seed, one of them changes its tags, and each node's member table is printed
 * after each step. Run it with `npx nx run sim:demo` (it builds what it needs first).
 * Optional: `--seed <n>` (default 42).
 */
import { converged, formatMemberTable, SimCluster } from '../index.js';

function seedArg(argv: readonly string[]): number {
  const i = argv.indexOf('--seed');
  if (i < 0) return 42;
  const n = Number(argv[i + 1]);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    process.stderr.write(`--seed must be an integer in [0, 2^32), got ${argv[i + 1]}\n`);
    process.exit(2);
  }
  return n;
}

function printTables(c: SimCluster, title: string): void {
  process.stdout.write(`\n== ${title} (simulated t = ${(c.now / 1000).toFixed(3)} s)\n`);
  for (const id of c.ids()) {
    process.stdout.write(`\n${id}'s member table:\n${formatMemberTable(c.view(id))}\n`);
  }
}

const seed = seedArg(process.argv.slice(2));
const c = new SimCluster({ seed, preset: 'lan' });
c.addNode('node-1', { role: 'seed', zone: 'eu-1' });
c.addNode('node-2', { role: 'api', zone: 'eu-1' });
c.addNode('node-3', { role: 'worker', zone: 'eu-2' });
process.stdout.write(`Shoal simulator demo: 3 nodes, preset lan, seed ${seed}; node-2 and node-3 join through node-1.\n`);

c.startAll();
if (!c.runUntil(converged, 60_000, 50)) {
  process.stderr.write(`seed=${seed}: the 3 nodes did not converge within 60 simulated s\n`);
  process.exit(1);
}
printTables(c, 'after the join: every node sees all three alive');

c.setTags('node-2', { role: 'api', zone: 'eu-1', version: '2' });
if (!c.runUntil(converged, 60_000, 50)) {
  process.stderr.write(`seed=${seed}: the tag change did not reach every node within 60 simulated s\n`);
  process.exit(1);
}
printTables(c, 'after node-2 set version=2: its incarnation went up and everyone has the new tags');

const t = c.totalTraffic().sent;
process.stdout.write(`\n${t.messages} messages (${t.bytes} bytes) sent in ${(c.now / 1000).toFixed(3)} simulated s; trace ${c.traceHash()}.\n`);
