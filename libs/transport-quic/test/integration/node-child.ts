/**
 * A node in its own process, for the integration tests.
 *
 *   node --import ./test/integration/register.mjs test/integration/node-child.ts
 *
 * Configuration: the SHOAL_CHILD environment variable holds JSON `ChildConfig` (see
 * support.ts). Reports JSON lines on stdout:
 *   {"ev":"started","id","address","pid","incarnation","at"}
 *   {"ev":"member","type","id","state","incarnation","tags","at"}   (every member event)
 *   {"ev":"reply","seq",...}                                          (answer to a command)
 *   {"ev":"stopped","at"}                                             (after stop())
 *   {"ev":"fatal","message"}                                          (start failed; exit code 1)
 * Commands, one JSON object a line on stdin, each with a `seq` echoed in its reply:
 *   {"cmd":"members"} {"cmd":"self"} {"cmd":"stats"} {"cmd":"tags","tags":{…}}
 *   {"cmd":"join","seeds":[…]} {"cmd":"leave"} {"cmd":"stop"}
 * "stop" stops the node and closes stdin; nothing else holds the event loop, so the
 * process then exits by itself (no process.exit on that path: the test checks it).
 * SIGTERM: leave, then stop. End of stdin (the parent went away): stop.
 */
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { NodeRuntime } from '../../src/node-runtime.js';
import type { ChildConfig } from './support.js';

const cfg = JSON.parse(process.env['SHOAL_CHILD'] ?? '{}') as ChildConfig;

function out(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

let rt: NodeRuntime;
try {
  rt = await NodeRuntime.start({
    id: cfg.id,
    cluster: cfg.cluster,
    bindHost: '127.0.0.1',
    bindPort: cfg.bindPort ?? 0,
    seeds: cfg.seeds,
    tags: cfg.tags,
    preset: cfg.preset,
    config: cfg.config,
    pool: cfg.pool,
    endpoint: cfg.endpoint,
    tls: cfg.tls,
    logger: pino({ level: cfg.logLevel ?? 'silent' }, pino.destination({ dest: 2, sync: true })),
  });
} catch (e) {
  out({ ev: 'fatal', message: (e as Error).message });
  process.exitCode = 1;
  throw e;
}

rt.on('error', (e) => out({ ev: 'error', message: e.message }));
rt.on('member', (e) =>
  out({ ev: 'member', type: e.type, id: e.member.id, state: e.member.state, incarnation: e.member.incarnation, tags: e.member.tags, at: Date.now() }),
);
out({ ev: 'started', id: rt.id, address: rt.address, pid: process.pid, incarnation: rt.self().incarnation, at: Date.now() });

const input = createInterface({ input: process.stdin });
let stopping: Promise<void> | undefined;

function stop(): Promise<void> {
  if (!stopping) {
    stopping = (async () => {
      await rt.stop();
      input.close();
      process.stdin.destroy();
      out({ ev: 'stopped', at: Date.now() });
    })();
  }
  return stopping;
}

input.on('line', (line) => {
  let cmd: { seq?: number; cmd?: string; tags?: Record<string, string>; seeds?: string[] };
  try {
    cmd = JSON.parse(line) as typeof cmd;
  } catch {
    out({ ev: 'reply', seq: -1, error: 'bad command' });
    return;
  }
  const reply = (result: Record<string, unknown>) => out({ ev: 'reply', seq: cmd.seq, ...result });
  void (async () => {
    try {
      switch (cmd.cmd) {
        case 'members':
          return reply({ members: rt.members() });
        case 'self':
          return reply({ self: rt.self() });
        case 'stats':
          return reply({ stats: rt.stats() });
        case 'tags':
          rt.setTags(cmd.tags ?? {});
          return reply({ self: rt.self() });
        case 'join':
          rt.join(cmd.seeds ?? []);
          return reply({});
        case 'leave':
          await rt.leave();
          return reply({ self: rt.self() });
        case 'stop':
          await stop();
          return reply({});
        default:
          return reply({ error: `unknown command ${String(cmd.cmd)}` });
      }
    } catch (e) {
      reply({ error: (e as Error).message });
    }
  })();
});
input.on('close', () => void stop());

process.on('SIGTERM', () => {
  void (async () => {
    await rt.leave();
    await stop();
  })();
});
