#!/usr/bin/env node
/**
 * The `shoal` command (the package's bin; `npx shoal …` in the repo).
 *
 *   shoal agent [flags]                  run a node (same flags as the node app)
 *   shoal members [--json] [--tag s] [--state s]
 *   shoal tags set k=v [k=v …]           add or change tags of the node
 *   shoal tags delete k [k …]            remove tags of the node
 *   shoal leave                          the node leaves gracefully and exits
 *   shoal certs init|issue …             cluster CA and node certificates
 *
 * members, tags and leave talk to a node's admin API: --http host:port (or SHOAL_HTTP;
 * default 127.0.0.1:7947). Exit codes: 0 ok, 1 the node could not be reached or refused,
 * 2 usage error.
 */
import './lazy-intl.js'; // first: before NestJS is loaded
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { hostPortProblem } from './address.js';
import { ArgvError, splitArgv } from './argv.js';
import { AdminClient, adminBaseUrl, DEFAULT_CLIENT_TIMEOUT_MS, membersTable } from './client.js';
import { DEFAULT_HTTP, TAG_KEY_PATTERN } from './flags.js';

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
}

export const CLI_USAGE = `usage: shoal <command> [options]

commands:
  agent [flags]                    run a node (shoal agent --help lists its flags)
  members [--json] [--tag <sel>]... [--state <state>]...
                                   the members a node sees: id, address, state, incarnation, tags
  tags set <key=value>...          add or change tags of the node (the change spreads)
  tags delete <key>...             remove tags of the node
  leave                            the node leaves the cluster gracefully, then exits
  certs init|issue ...             make a cluster CA / node certificates (shoal certs help)
  help                             this text

options of members, tags and leave:
  --http <host:port>   the node's admin API (env SHOAL_HTTP; default ${DEFAULT_HTTP})
  --timeout <ms>       how long to wait for the node (default ${DEFAULT_CLIENT_TIMEOUT_MS})

exit codes: 0 ok, 1 the node could not be reached or refused, 2 usage error`;

class UsageError extends Error {}

interface ClientArgs {
  http: string;
  timeoutMs: number;
  json: boolean;
  tags: string[];
  states: string[];
  rest: string[];
}

function parseClientArgs(args: readonly string[], env: NodeJS.ProcessEnv, allowed: { json?: boolean; filters?: boolean }): ClientArgs {
  let parsed;
  try {
    parsed = splitArgv(args, {
      http: { type: 'string' },
      timeout: { type: 'string' },
      ...(allowed.json ? { json: { type: 'boolean' } } : {}),
      ...(allowed.filters ? { tag: { type: 'string', multiple: true }, state: { type: 'string', multiple: true } } : {}),
    });
  } catch (e) {
    throw e instanceof ArgvError ? new UsageError(e.message) : e;
  }
  const { values, positionals } = parsed;
  const out: ClientArgs = {
    http: (values['http'] as string | undefined) ?? (env['SHOAL_HTTP']?.trim() || DEFAULT_HTTP),
    timeoutMs: DEFAULT_CLIENT_TIMEOUT_MS,
    json: values['json'] === true,
    tags: (values['tag'] as string[] | undefined) ?? [],
    states: (values['state'] as string[] | undefined) ?? [],
    rest: positionals,
  };
  const timeout = values['timeout'] as string | undefined;
  if (timeout !== undefined) {
    if (!/^[0-9]+$/.test(timeout) || Number(timeout) < 1 || Number(timeout) > 600_000) throw new UsageError(`--timeout must be 1-600000 ms, got ${JSON.stringify(timeout)}`);
    out.timeoutMs = Number(timeout);
  }
  const problem = hostPortProblem(out.http, { minPort: 1 });
  if (problem) throw new UsageError(`--http (SHOAL_HTTP) ${JSON.stringify(out.http)}: ${problem}`);
  return out;
}

function parsePairs(items: readonly string[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`expected key=value, got ${JSON.stringify(item)}`);
    const key = item.slice(0, eq);
    if (!TAG_KEY_PATTERN.test(key)) throw new UsageError(`tag key ${JSON.stringify(key)} may hold only letters, digits and . _ / -`);
    tags[key] = item.slice(eq + 1);
  }
  return tags;
}

/** Runs a client command (not agent); resolves to the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
        io.stderr(CLI_USAGE);
        return 2;
      case 'help':
      case '--help':
      case '-h':
        io.stdout(CLI_USAGE);
        return 0;
      case 'certs': {
        // Loaded on demand: the transport (and its native QUIC module) is not needed by the other commands.
        const { runCertsCli } = await import('@shoal/transport-quic');
        return await runCertsCli(rest, { stdout: io.stdout, stderr: (l) => io.stderr(l.replace(/^certs: /, 'shoal certs: ')) });
      }
      case 'members': {
        const a = parseClientArgs(rest, io.env, { json: true, filters: true });
        if (a.rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(a.rest[0])}`);
        const client = new AdminClient(adminBaseUrl(a.http), a.timeoutMs);
        const r = await client.members({ tags: a.tags, states: a.states });
        io.stdout(a.json ? JSON.stringify(r.members, null, 2) : membersTable(r.members));
        return 0;
      }
      case 'tags': {
        const [sub, ...more] = rest;
        if (sub !== 'set' && sub !== 'delete') throw new UsageError(`shoal tags takes "set" or "delete", got ${JSON.stringify(sub ?? '')}`);
        const a = parseClientArgs(more, io.env, { json: true });
        if (!a.rest.length) throw new UsageError(sub === 'set' ? 'shoal tags set needs key=value pairs' : 'shoal tags delete needs tag keys');
        const changes = sub === 'set' ? parsePairs(a.rest) : undefined;
        const client = new AdminClient(adminBaseUrl(a.http), a.timeoutMs);
        const self = await client.self();
        const tags: Record<string, string> = { ...self.tags, ...(changes ?? {}) };
        if (sub === 'delete') for (const k of a.rest) delete tags[k];
        const after = await client.setTags(tags);
        io.stdout(a.json ? JSON.stringify(after, null, 2) : membersTable([after]));
        return 0;
      }
      case 'leave': {
        const a = parseClientArgs(rest, io.env, {});
        if (a.rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(a.rest[0])}`);
        const r = await new AdminClient(adminBaseUrl(a.http), a.timeoutMs).leave();
        io.stdout(`node ${r.id} is leaving the cluster; it exits once the leave has spread`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`shoal: ${e.message} (see shoal help)`);
      return 2;
    }
    io.stderr(`shoal: ${(e as Error).message}`);
    return 1;
  }
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    const me = realpathSync(fileURLToPath(import.meta.url));
    const target = realpathSync(entry);
    // Run directly, or through the package's bin launcher (bin/shoal.js imports this file).
    return target === me || /[\\/]bin[\\/]shoal(\.js)?$/.test(target);
  } catch {
    return false;
  }
}

if (isMain()) {
  const argv = process.argv.slice(2);
  if (argv[0] === 'agent') {
    const { runNode } = await import('./node.js');
    await runNode(argv.slice(1), { command: 'shoal agent' });
  } else {
    const code = await runCli(argv, {
      stdout: (t) => process.stdout.write(`${t}\n`),
      stderr: (t) => process.stderr.write(`${t}\n`),
      env: process.env,
    });
    process.exitCode = code;
  }
}
