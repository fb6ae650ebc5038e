/**
 * Logs: pino JSON lines on stdout (pino-pretty when stdout is a terminal). Every
 * membership change is one line whose fields are a stable contract (docs/CONFIGURATION.md,
 * "Log lines"):
 *
 *   { "level": 30, "time": 1767225600000, "node": "<this node>", "event": "member.joined",
 *     "member": "<id>", "address": "host:port", "incarnation": 0, "tags": {…},
 *     "state": "alive", "previousState": null, "msg": "member joined" }
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LoggerService } from '@nestjs/common';
import type { MemberEvent, MemberEventType } from '@shoal/core';
import type { LogLevel } from './flags.js';

export const MEMBER_EVENT_NAMES: Readonly<Record<MemberEventType, string>> = {
  joined: 'member.joined',
  alive: 'member.alive',
  suspect: 'member.suspect',
  failed: 'member.failed',
  left: 'member.left',
  updated: 'member.updated',
};

/** The `event` of the line logged once the node is up (ports, admin URL). */
export const NODE_STARTED_EVENT = 'node.started';
export const NODE_STOPPING_EVENT = 'node.stopping';
export const NODE_STOPPED_EVENT = 'node.stopped';

export interface LoggerOptions {
  level: LogLevel;
  /** Pretty, colored lines instead of JSON (default: when stdout is a terminal). */
  pretty?: boolean;
}

export function createLogger(opts: LoggerOptions): Logger {
  const usePretty = opts.pretty ?? process.stdout.isTTY === true;
  // `time` comes from a mixin rather than pino's timestamp, so a member line can carry the
  // event's own time in the same single field (a field of the log call wins over the mixin).
  const base = { level: opts.level, base: { pid: process.pid }, timestamp: false, mixin: () => ({ time: Date.now() }) };
  if (usePretty) {
    return pino(base, pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  // Synchronous writes: a line logged just before process.exit() is never lost.
  return pino(base, pino.destination({ dest: 1, sync: true }));
}

/** The fields of one membership log line. */
export interface MemberLogLine {
  event: string;
  member: string;
  address: string;
  incarnation: number;
  tags: Record<string, string>;
  state: string;
  previousState: string | null;
  /** Clock time of the change, ms since the epoch. */
  time: number;
}

export function memberLogLine(e: MemberEvent): MemberLogLine {
  return {
    event: MEMBER_EVENT_NAMES[e.type],
    member: e.member.id,
    address: e.member.address,
    incarnation: e.member.incarnation,
    tags: { ...e.member.tags },
    state: e.member.state,
    previousState: e.previous?.state ?? null,
    time: e.time,
  };
}

/** Logs one member event (at warn for suspect and failed, info otherwise). */
export function logMemberEvent(log: Logger, e: MemberEvent): void {
  const line = memberLogLine(e);
  if (e.type === 'failed' || e.type === 'suspect') log.warn(line, `member ${e.type}`);
  else log.info(line, `member ${e.type}`);
}

/** Nest's own messages go to pino: `log` at debug (route mapping etc.), warnings and errors as such. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly pino: Logger) {}
  log(message: unknown, ...rest: unknown[]): void {
    this.pino.debug({ context: context(rest) }, String(message));
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.pino.warn({ context: context(rest) }, String(message));
  }
  error(message: unknown, ...rest: unknown[]): void {
    const stack = rest.find((r) => typeof r === 'string' && r.includes('\n    at '));
    this.pino.error({ context: context(rest), stack }, message instanceof Error ? message.message : String(message));
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.pino.trace({ context: context(rest) }, String(message));
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.pino.trace({ context: context(rest) }, String(message));
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.pino.fatal({ context: context(rest) }, String(message));
  }
}

function context(rest: unknown[]): string | undefined {
  const last = rest[rest.length - 1];
  return typeof last === 'string' && !last.includes('\n') ? last : undefined;
}
