/**
 * Runs one membership node: flags → data dir (id, certificates) → Nest application
 * (ShoalModule + admin HTTP) → banner; then waits for SIGTERM/SIGINT or POST /v1/leave.
 *
 * Shutdown (shutdown.ts): the node stops being ready, leaves (incarnation + 1, spread to
 * leaveMinSends members or leaveTimeoutMs), closes streams, pool, socket and HTTP (open
 * admin connections are dropped), and exits 0. If that takes longer than
 * --shutdown-timeout, it exits 1. A second signal at least SECOND_SIGNAL_MIN_GAP_MS after
 * the first exits 1 at once.
 *
 * Exit codes: 0 clean shutdown, 1 failure (start-up or forced), 2 bad flag or variable.
 */
import 'reflect-metadata';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import { performance } from 'node:perf_hooks';
import { ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { SHOAL_RUNTIME } from '@shoal/nest';
import type { NodeRuntime } from '@shoal/transport-quic';
import type { Logger } from 'pino';
import { connectHost, formatHostPort } from './address.js';
import { AppModule } from './app.module.js';
import type { NodeContext } from './context.js';
import { acquireNodeId, loadNodeTls, type HeldId, type NodeTls } from './data-dir.js';
import { DEFAULT_CLUSTER, DEFAULT_DATA_DIR, DEFAULT_HTTP, DEFAULT_PRESET, FlagError, nodeHelp, parseNodeArgs, type NodeSettings } from './flags.js';
import { createLogger, NODE_STARTED_EVENT, PinoNestLogger } from './logger.js';
import { Shutdown } from './shutdown.js';

/** A repeated signal closer than this to the first is taken as the same request (a terminal's Ctrl+C reaches both nx and the node). */
export const SECOND_SIGNAL_MIN_GAP_MS = 500;
/** Largest admin request body accepted. */
export const MAX_BODY_BYTES = 16 * 1024;

export interface RunNodeOptions {
  /** How the command is shown in --help and the banner. */
  command?: string;
  env?: NodeJS.ProcessEnv;
}

function fail(code: number, message: string, log?: Logger, err?: unknown): never {
  log?.fatal({ err }, message);
  process.stderr.write(`shoal: ${message}\n`);
  process.exit(code);
}

async function resolveAdvertise(s: NodeSettings): Promise<string | undefined> {
  if (!s.advertise) return undefined;
  let host = s.advertise.host;
  if (isIP(host) === 0) {
    const found = await lookup(host, { family: 0, all: true });
    const pick = found.find((a) => a.family === 4) ?? found[0];
    if (!pick) throw new Error(`--advertise host ${host} has no address`);
    host = pick.address;
  }
  return formatHostPort(host, s.advertise.port);
}

/** The command that starts a second node joining this one, from the same checkout. */
export function joinCommand(s: NodeSettings, gossip: string, tls: NodeTls): string {
  const parts = ['npx shoal agent', `--seeds ${gossip}`, `--bind ${formatHostPort(s.bindHost, 0)}`, `--http ${formatHostPort(s.httpHost, 0)}`];
  if (s.cluster !== DEFAULT_CLUSTER) parts.push(`--cluster ${s.cluster}`);
  if (s.preset !== DEFAULT_PRESET) parts.push(`--preset ${s.preset}`);
  if (s.dataDir !== DEFAULT_DATA_DIR) parts.push(`--data-dir ${s.dataDir}`);
  if (tls.source === 'files') parts.push(`--id <id> --tls-ca ${s.tls!.caPath} --tls-cert <cert of id> --tls-key <key of id>`);
  return parts.join(' ');
}

function banner(lines: { id: string; cluster: string; preset: string; startupMs: number; gossip: string; admin: string; membersCmd: string; data: string; join: string }): string {
  return [
    '',
    `  Shoal node ${lines.id} is up (cluster "${lines.cluster}", preset ${lines.preset}) in ${lines.startupMs} ms`,
    `    gossip  ${lines.gossip}  (QUIC over UDP)`,
    `    admin   ${lines.admin}  (open it for a live view of the cluster, or: ${lines.membersCmd})`,
    `    data    ${lines.data}`,
    '',
    '  Start a second node that joins this one:',
    `    ${lines.join}`,
    '',
  ].join('\n');
}

/** Parses the flags and runs the node until it is stopped; exits the process. */
export async function runNode(argv: readonly string[], opts: RunNodeOptions = {}): Promise<void> {
  const command = opts.command ?? 'shoal agent';
  let settings: NodeSettings;
  try {
    const parsed = parseNodeArgs(argv, opts.env ?? process.env);
    if (parsed.kind === 'help') {
      process.stdout.write(`${nodeHelp(command)}\n`);
      process.exit(0);
    }
    settings = parsed.settings;
  } catch (e) {
    if (e instanceof FlagError) fail(2, `${e.message} (see ${command} --help)`);
    throw e;
  }
  const s = settings;
  const rootLog = createLogger({ level: s.logLevel });
  const dataDir = path.resolve(s.dataDir);

  let held: HeldId;
  let tls: NodeTls;
  try {
    held = await acquireNodeId(dataDir, s.id);
  } catch (e) {
    fail(1, (e as Error).message, rootLog, e);
  }
  const log = rootLog.child({ node: held.id });
  try {
    const files = s.tls && { caPath: path.resolve(s.tls.caPath), certPath: path.resolve(s.tls.certPath), keyPath: path.resolve(s.tls.keyPath) };
    tls = await loadNodeTls(dataDir, held.id, files);
  } catch (e) {
    held.release();
    fail(1, `TLS: ${(e as Error).message}`, log, e);
  }
  if (tls.source === 'dev')
    log.warn({ ca: tls.caPath, cert: tls.certPath, created: tls.created }, 'using development certificates (not for production: every node sharing this data dir shares the CA key)');
  let advertise: string | undefined;
  try {
    advertise = await resolveAdvertise(s);
  } catch (e) {
    held.release();
    fail(1, `cannot resolve --advertise: ${(e as Error).message}`, log, e);
  }

  let app: NestExpressApplication | undefined;
  const shutdown = new Shutdown({
    boundMs: s.shutdownTimeoutMs,
    secondSignalGapMs: SECOND_SIGNAL_MIN_GAP_MS,
    close: async () => {
      await app?.close();
    },
    cleanup: () => held.release(),
    exit: (code) => process.exit(code),
    log,
  });
  process.on('SIGTERM', () => shutdown.signal('SIGTERM'));
  process.on('SIGINT', () => shutdown.signal('SIGINT'));
  process.on('uncaughtException', (e) => {
    log.fatal({ err: e }, 'uncaught exception');
    shutdown.abort(1);
  });
  process.on('unhandledRejection', (e) => {
    log.fatal({ err: e }, 'unhandled promise rejection');
    shutdown.abort(1);
  });

  const ctx: NodeContext = { settings: s, id: held.id, log, rootLog, requestShutdown: (reason) => shutdown.request(reason) };
  try {
    app = await NestFactory.create<NestExpressApplication>(AppModule.register({ ctx, tls, advertise }), new ExpressAdapter(), {
      logger: new PinoNestLogger(log.child({ component: 'nest' })),
      abortOnError: false,
      bodyParser: false,
      // On close, drop open admin connections: a slow client must not hold up the exit.
      forceCloseConnections: true,
    });
    app.useBodyParser('json', { limit: MAX_BODY_BYTES });
    app.disable('x-powered-by'); // the admin API does not advertise its framework
    app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  } catch (e) {
    held.release();
    fail(1, `cannot start: ${(e as Error).message}`, log, e);
  }
  if (shutdown.started) return; // a signal came during start-up: the shutdown is under way
  try {
    await app.listen(s.httpPort, s.httpHost);
  } catch (e) {
    const msg = `cannot serve the admin API on ${formatHostPort(s.httpHost, s.httpPort)}: ${(e as Error).message}`;
    log.fatal({ err: e }, msg);
    process.stderr.write(`shoal: ${msg}\n`);
    await Promise.race([app.close().catch(() => undefined), new Promise((r) => setTimeout(r, s.shutdownTimeoutMs).unref())]);
    held.release();
    process.exit(1);
  }
  const startupMs = Math.round(performance.now());
  const runtime = app.get<NodeRuntime>(SHOAL_RUNTIME);
  const httpAddr = app.getHttpServer().address() as AddressInfo;
  const http = formatHostPort(httpAddr.address, httpAddr.port);
  const admin = `http://${formatHostPort(connectHost(httpAddr.address), httpAddr.port)}`;
  const join = joinCommand(s, runtime.address, tls);
  const membersCmd = http === DEFAULT_HTTP ? 'npx shoal members' : `npx shoal members --http ${formatHostPort(connectHost(httpAddr.address), httpAddr.port)}`;
  log.info(
    { event: NODE_STARTED_EVENT, id: held.id, cluster: s.cluster, preset: s.preset, gossip: runtime.address, bind: formatHostPort(s.bindHost, s.bindPort), http, admin, startupMs, seeds: s.seeds.map((x) => formatHostPort(x.host, x.port)), join },
    'node started',
  );
  process.stderr.write(
    banner({
      id: held.id,
      cluster: s.cluster,
      preset: s.preset,
      startupMs,
      gossip: runtime.address,
      admin,
      membersCmd,
      data: `${dataDir}${tls.source === 'dev' ? ' (dev certificates)' : ''}`,
      join,
    }),
  );
}
