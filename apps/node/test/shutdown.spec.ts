import { afterEach, describe, expect, it } from '@jest/globals';
import { Shutdown } from '../src/shutdown.js';

interface Harness {
  shutdown: Shutdown;
  exits: number[];
  cleanups: number;
  lines: { level: string; obj: Record<string, unknown>; msg: string }[];
  closeCalls: number;
  finishClose(): void;
  exited: Promise<number>;
}

function harness(opts: { boundMs?: number; gapMs?: number; closeFails?: boolean } = {}): Harness {
  let finishClose!: () => void;
  let onExit!: (code: number) => void;
  const exited = new Promise<number>((r) => (onExit = r));
  const h: Harness = {
    exits: [],
    cleanups: 0,
    lines: [],
    closeCalls: 0,
    finishClose: () => finishClose(),
    exited,
    shutdown: undefined as unknown as Shutdown,
  };
  h.shutdown = new Shutdown({
    boundMs: opts.boundMs ?? 10_000,
    secondSignalGapMs: opts.gapMs ?? 50,
    close: () => {
      h.closeCalls++;
      return new Promise<void>((resolve, reject) => {
        finishClose = () => (opts.closeFails ? reject(new Error('boom')) : resolve());
      });
    },
    cleanup: () => h.cleanups++,
    exit: (code) => {
      h.exits.push(code);
      onExit(code);
    },
    log: {
      info: (obj, msg) => h.lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
      error: (obj, msg) => h.lines.push({ level: 'error', obj: obj as Record<string, unknown>, msg }),
    },
  });
  return h;
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Shutdown', () => {
  const open: Harness[] = [];
  afterEach(() => {
    // Let any pending close finish so no timer outlives the test.
    for (const h of open.splice(0)) {
      try {
        h.finishClose();
      } catch {
        /* already finished */
      }
    }
  });

  it('a signal closes, then exits 0 once, with node.stopping and node.stopped lines', async () => {
    const h = harness();
    open.push(h);
    h.shutdown.signal('SIGTERM');
    expect(h.shutdown.started).toBe(true);
    expect(h.lines[0]).toMatchObject({ obj: { event: 'node.stopping', reason: 'SIGTERM', boundMs: 10_000 } });
    expect(h.exits).toEqual([]);
    h.finishClose();
    expect(await h.exited).toBe(0);
    expect(h.lines.at(-1)).toMatchObject({ level: 'info', obj: { event: 'node.stopped' } });
    expect(h.cleanups).toBe(1);
    h.shutdown.signal('SIGTERM');
    h.shutdown.request('again');
    await tick(80);
    expect(h.exits).toEqual([0]);
    expect(h.closeCalls).toBe(1);
  });

  it('a close that never finishes: exit 1 after the bound', async () => {
    const h = harness({ boundMs: 60 });
    open.push(h);
    const t0 = Date.now();
    h.shutdown.request('POST /v1/leave');
    expect(await h.exited).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
    expect(h.lines.at(-1)).toMatchObject({ level: 'error', obj: { event: 'node.stopped', forced: true } });
    h.finishClose(); // finishing late changes nothing
    await tick(10);
    expect(h.exits).toEqual([1]);
    expect(h.cleanups).toBe(1);
  });

  it('a second signal after the gap exits 1 at once; one within the gap is ignored', async () => {
    const h = harness({ gapMs: 60 });
    open.push(h);
    h.shutdown.signal('SIGINT');
    h.shutdown.signal('SIGINT'); // a terminal's Ctrl+C reaching the node twice
    await tick(10);
    expect(h.exits).toEqual([]);
    await tick(70);
    h.shutdown.signal('SIGTERM');
    expect(h.exits).toEqual([1]);
    expect(h.lines.at(-1)).toMatchObject({ level: 'error', msg: 'second signal during shutdown: exiting now' });
  });

  it('a failing close is logged and exits 1', async () => {
    const h = harness({ closeFails: true });
    open.push(h);
    h.shutdown.request('SIGTERM');
    h.finishClose();
    expect(await h.exited).toBe(1);
    expect(h.lines.at(-1)).toMatchObject({ level: 'error', msg: 'error while closing', obj: { event: 'node.stopped' } });
    expect(h.cleanups).toBe(1);
  });
});
