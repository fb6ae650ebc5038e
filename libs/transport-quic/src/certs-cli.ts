/**
 * `certs` command: make a cluster CA and issue node certificates.
 *
 *   node libs/transport-quic/dist/certs-cli.js init  --dir <d> [--common-name <cn>] [--days <n>] [--force]
 *   node libs/transport-quic/dist/certs-cli.js issue --dir <d> --id <nodeId> [--out <d>] [--days <n>]
 *                                                    [--dns <name,...>] [--ip <addr,...>] [--force]
 *
 * Exit codes: 0 success, 1 operational failure (files exist, CA unreadable …),
 * 2 usage error. `runCertsCli` runs in-process (tests, the later `shoal certs`).
 */
import path from 'node:path';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs as utilParseArgs, type ParseArgsConfig } from 'node:util';
import { TransportError } from './errors.js';
import { assertNodeId, issueNodeCertificate } from './tls/ca.js';
import { readCaFiles, writeCaFiles, writeNodeFiles } from './tls/files.js';

export interface CertsCliIo {
  stdout(line: string): void;
  stderr(line: string): void;
  /** Relative paths resolve against this (default process.cwd()). */
  cwd?: string;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export const CERTS_USAGE = `usage:
  certs init  --dir <dir> [--common-name <cn>] [--days <n>] [--force]
      create a cluster CA: <dir>/ca.pem and <dir>/ca-key.pem (mode 0600)
  certs issue --dir <dir> --id <nodeId> [--out <dir>] [--days <n>] [--dns <a,b>] [--ip <a,b>] [--force]
      issue a node certificate signed by the CA in <dir>: <out>/<nodeId>.pem and <out>/<nodeId>-key.pem
      (<out> defaults to <dir>)`;

class UsageError extends Error {}

type ParseArgsOptions = NonNullable<ParseArgsConfig['options']>;

interface Spec {
  values: string[];
  flags: string[];
  required: string[];
}

const SPECS: Record<string, Spec> = {
  init: { values: ['dir', 'common-name', 'days'], flags: ['force'], required: ['dir'] },
  issue: { values: ['dir', 'id', 'out', 'days', 'dns', 'ip'], flags: ['force'], required: ['dir', 'id'] },
};

/**
 * Splits args with util.parseArgs (strict). A separate value may start with one dash (`--out -x`),
 * as before, so such pairs are joined into `--out=-x` first: strict mode refuses them as ambiguous.
 */
function parseArgs(spec: Spec, args: readonly string[]): { values: Map<string, string>; flags: Set<string> } {
  const options: ParseArgsOptions = Object.fromEntries([...spec.values.map((n) => [n, { type: 'string', multiple: true }]), ...spec.flags.map((n) => [n, { type: 'boolean' }])]);
  const { tokens } = utilParseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  const dashValues = new Map(tokens.flatMap((t) => (t.kind === 'option' && t.inlineValue === false && /^-[^-]/.test(t.value) ? [[t.index, `--${t.name}=${t.value}`] as const] : [])));
  const joined = args.flatMap((a, i) => dashValues.get(i) ?? (dashValues.has(i - 1) ? [] : [a]));
  let parsed;
  try {
    parsed = utilParseArgs({ args: joined, options, strict: true, allowPositionals: true });
  } catch (e) {
    // Its messages quote the option: "Unknown option '--x'", "Option '--x <value>' argument missing".
    const { code, message } = e as { code?: unknown; message?: unknown };
    const option = /'(--?[^'\s]+)/.exec(String(message))?.[1];
    if (option && code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${option}`);
    if (option && code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError(`${option} ${spec.flags.includes(option.slice(2)) ? 'takes no value' : 'needs a value'}`);
    throw e;
  }
  if (parsed.positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[0])}`);
  const values = new Map<string, string>();
  for (const name of spec.values) {
    const given = parsed.values[name] as string[] | undefined;
    if (!given) continue;
    if (given.includes('')) throw new UsageError(`--${name} needs a value`);
    if (given.length > 1) throw new UsageError(`--${name} given twice`);
    values.set(name, given[0]!);
  }
  for (const r of spec.required) if (!values.has(r)) throw new UsageError(`--${r} is required`);
  return { values, flags: new Set(spec.flags.filter((n) => parsed.values[n] === true)) };
}

function parseDays(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9]+$/.test(v) || Number(v) <= 0) throw new UsageError(`--days must be a positive whole number, got ${JSON.stringify(v)}`);
  return Number(v);
}

function parseList(v: string | undefined): string[] | undefined {
  return v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Runs the certs command; resolves to the exit code. Never throws. */
export async function runCertsCli(argv: readonly string[], io: CertsCliIo): Promise<number> {
  const [command, ...rest] = argv;
  const cwd = io.cwd ?? process.cwd();
  try {
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      (command === undefined ? io.stderr : io.stdout)(CERTS_USAGE);
      return command === undefined ? EXIT_USAGE : EXIT_OK;
    }
    const spec = SPECS[command];
    if (!spec) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    const { values, flags } = parseArgs(spec, rest);
    const dir = path.resolve(cwd, values.get('dir')!);
    const days = parseDays(values.get('days'));
    if (command === 'init') {
      const files = await writeCaFiles(dir, { commonName: values.get('common-name'), validityDays: days, overwrite: flags.has('force') });
      io.stdout(`created cluster CA\n  certificate: ${files.certPath}\n  key:         ${files.keyPath} (keep it secret)`);
      return EXIT_OK;
    }
    const nodeId = values.get('id')!;
    assertNodeId(nodeId);
    const out = path.resolve(cwd, values.get('out') ?? values.get('dir')!);
    const ca = await readCaFiles(dir);
    const pair = await issueNodeCertificate(ca, {
      nodeId,
      validityDays: days,
      dnsNames: parseList(values.get('dns')),
      ipAddresses: parseList(values.get('ip')),
    });
    const files = await writeNodeFiles(out, nodeId, pair, { overwrite: flags.has('force') });
    io.stdout(`issued certificate for node ${nodeId}\n  certificate: ${files.certPath}\n  key:         ${files.keyPath}`);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`certs: ${e.message}\n${CERTS_USAGE}`);
      return EXIT_USAGE;
    }
    if (e instanceof TransportError && (e.code === 'INVALID_NODE_ID' || e.code === 'INVALID_OPTION')) {
      io.stderr(`certs: ${e.message}`);
      return EXIT_USAGE;
    }
    io.stderr(`certs: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT_FAILURE;
  }
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  void runCertsCli(process.argv.slice(2), {
    stdout: (l) => process.stdout.write(`${l}\n`),
    stderr: (l) => process.stderr.write(`${l}\n`),
  }).then((code) => {
    process.exitCode = code;
  });
}
