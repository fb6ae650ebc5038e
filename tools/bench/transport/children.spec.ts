/**
 * BenchChild with a foreign `program` (the memberlist reference speaks the children's
 * messages as JSON lines on stdin/stdout): here a small Node script plays that program,
 * so the test needs no Go.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BenchChild, killAll } from './children.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-children-'));
const program = path.join(dir, 'fake-child.mjs');
writeFileSync(
  program,
  `#!${process.execPath}
import readline from 'node:readline';
const out = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
out({ type: 'ready' });
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line);
  if (m.type === 'sample') {
    process.stdout.write('a line that is not a message\\n');
    out({ seq: m.seq, type: 'ok', sample: { pid: process.pid, lifetime: process.env.SHOAL_BENCH_CHILD_MAX_MS } });
  } else if (m.type === 'stop') {
    out({ seq: m.seq, type: 'ok' });
    process.exit(0);
  } else if (m.type === 'watch') {
    // never answers: the caller's timeout or the child's death must end the wait
  } else out({ seq: m.seq, type: 'error', error: 'not supported: ' + m.type });
});
process.stdin.on('end', () => process.exit(2));
`,
);
chmodSync(program, 0o755);

afterAll(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('BenchChild over JSON lines (a foreign program)', () => {
  it('gets ready, answers requests by seq past stray output, and passes its error replies on', async () => {
    const c = new BenchChild('fake', { maxLifetimeMs: 60_000, program });
    await c.ready();
    const s = (await c.sample()) as unknown as { pid: number; lifetime: string };
    expect(s.pid).toBe(c.proc.pid);
    expect(s.lifetime).toBe('60000');
    await expect(c.request({ type: 'release' }, 5000)).rejects.toThrow('fake: not supported: release');
    await c.stop(5000);
    expect(c.exited).toBe(true);
    await expect(c.sample()).rejects.toThrow('fake: not running');
  });

  it('fails a request that gets no answer within its timeout, and one whose child dies meanwhile', async () => {
    const c = new BenchChild('mute', { maxLifetimeMs: 60_000, program });
    await c.ready();
    await expect(c.request({ type: 'watch', id: 'x' }, 200)).rejects.toThrow('mute: no reply to watch within 200 ms');
    const pending = c.request({ type: 'watch', id: 'x' }, 10_000);
    c.kill();
    await expect(pending).rejects.toThrow(/mute: exited/);
  });
});
