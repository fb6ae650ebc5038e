/**
 * The node's settings: one table of flags, each with its environment variable twin and
 * default, parsed from argv and env and validated with class-validator. A flag given on
 * the command line wins over its variable (for repeatable flags the flag's values replace
 * the variable's list). A bad value is a FlagError naming the flag and the variable; the
 * entry points turn it into exit code 2.
 */
import 'reflect-metadata';
import { IsIn, IsInt, IsOptional, Matches, Max, Min, ValidateBy, validateSync, type ValidationError, type ValidationOptions } from 'class-validator';
import { PRESETS, tagsSize, type PresetName, type Tags } from '@shoal/core';
import { hostPortProblem, parseHostPort, type HostPort, type HostPortRules } from './address.js';
import { ArgvError, splitArgv, type ArgvOptions } from './argv.js';

export const DEFAULT_GOSSIP_PORT = 7946;
export const DEFAULT_HTTP_PORT = 7947;
export const DEFAULT_BIND = `127.0.0.1:${DEFAULT_GOSSIP_PORT}`;
export const DEFAULT_HTTP = `127.0.0.1:${DEFAULT_HTTP_PORT}`;
export const DEFAULT_CLUSTER = 'shoal';
export const DEFAULT_PRESET: PresetName = 'lan';
export const DEFAULT_DATA_DIR = '.shoal';
export const DEFAULT_LOG_LEVEL = 'info';
/** Added to the preset's leaveTimeoutMs to make the default shutdown bound (closing streams, pool, socket, HTTP). */
export const SHUTDOWN_CLOSE_ALLOWANCE_MS = 5000;
export const MIN_SHUTDOWN_TIMEOUT_MS = 1000;
export const MAX_SHUTDOWN_TIMEOUT_MS = 600_000;
/** Most seed entries accepted (each may resolve to several addresses). */
export const MAX_SEEDS = 64;
/** Most tags accepted on the command line (their total size is bounded by the preset's maxTagsBytes too). */
export const MAX_TAGS = 64;

export const CLUSTER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Same rule as the transport's node ids (the id is written into the node certificate). */
export const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const TAG_KEY_PATTERN = /^[A-Za-z0-9_.\/-]{1,128}$/;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

export type FlagKey =
  | 'id'
  | 'cluster'
  | 'bind'
  | 'advertise'
  | 'seeds'
  | 'tags'
  | 'http'
  | 'preset'
  | 'tlsCa'
  | 'tlsCert'
  | 'tlsKey'
  | 'dataDir'
  | 'logLevel'
  | 'shutdownTimeout';

export interface FlagSpec {
  key: FlagKey;
  /** Flag name without the leading dashes. */
  flag: string;
  env: string;
  /** Placeholder shown in --help. */
  arg: string;
  /** Default, as shown in --help. */
  default: string;
  help: string;
  /** May be given several times; the variable holds a comma-separated list. */
  list?: boolean;
}

export const FLAGS: readonly FlagSpec[] = [
  { key: 'id', flag: 'id', env: 'SHOAL_ID', arg: '<id>', default: 'generated once, kept in <data-dir>/ids', help: 'member id, unique in the cluster (letters, digits, . _ -)' },
  { key: 'cluster', flag: 'cluster', env: 'SHOAL_CLUSTER', arg: '<name>', default: DEFAULT_CLUSTER, help: 'cluster name; nodes of other clusters are refused' },
  { key: 'bind', flag: 'bind', env: 'SHOAL_BIND', arg: '<ip:port>', default: DEFAULT_BIND, help: 'UDP address the gossip (QUIC) socket binds; port 0 picks a free one' },
  { key: 'advertise', flag: 'advertise', env: 'SHOAL_ADVERTISE', arg: '<host[:port]>', default: 'the bind address (0.0.0.0: first non-loopback IPv4)', help: 'address other members reach this node at' },
  { key: 'seeds', flag: 'seeds', env: 'SHOAL_SEEDS', arg: '<host:port,...>', default: 'none (a new cluster)', help: 'members to join through; DNS names are resolved again on every retry', list: true },
  { key: 'tags', flag: 'tag', env: 'SHOAL_TAGS', arg: '<key=value>', default: 'none', help: 'a tag this member advertises (repeatable; the variable is a comma list)', list: true },
  { key: 'http', flag: 'http', env: 'SHOAL_HTTP', arg: '<host:port>', default: DEFAULT_HTTP, help: 'admin HTTP API (health, metrics, members); port 0 picks a free one' },
  { key: 'preset', flag: 'preset', env: 'SHOAL_PRESET', arg: PRESET_NAMES.join('|'), default: DEFAULT_PRESET, help: 'protocol timings (see docs/CONFIGURATION.md)' },
  { key: 'tlsCa', flag: 'tls-ca', env: 'SHOAL_TLS_CA', arg: '<file>', default: 'dev CA in <data-dir>/tls', help: 'cluster CA certificate (PEM); give all three --tls-* or none' },
  { key: 'tlsCert', flag: 'tls-cert', env: 'SHOAL_TLS_CERT', arg: '<file>', default: 'dev certificate in <data-dir>/tls', help: 'this node\'s certificate (PEM), issued for its id' },
  { key: 'tlsKey', flag: 'tls-key', env: 'SHOAL_TLS_KEY', arg: '<file>', default: 'dev key in <data-dir>/tls', help: 'this node\'s private key (PEM)' },
  { key: 'dataDir', flag: 'data-dir', env: 'SHOAL_DATA_DIR', arg: '<dir>', default: DEFAULT_DATA_DIR, help: 'where the generated id and dev certificates are kept (relative to the working directory)' },
  { key: 'logLevel', flag: 'log-level', env: 'SHOAL_LOG_LEVEL', arg: '<level>', default: DEFAULT_LOG_LEVEL, help: `log level: ${LOG_LEVELS.join(', ')} (membership changes log at info and warn)` },
  {
    key: 'shutdownTimeout',
    flag: 'shutdown-timeout',
    env: 'SHOAL_SHUTDOWN_TIMEOUT_MS',
    arg: '<ms>',
    default: `preset leaveTimeoutMs + ${SHUTDOWN_CLOSE_ALLOWANCE_MS} (lan: ${PRESETS.lan.leaveTimeoutMs + SHUTDOWN_CLOSE_ALLOWANCE_MS})`,
    help: 'on SIGTERM/SIGINT the process exits within this bound; must exceed the preset\'s leaveTimeoutMs',
  },
];

export const FLAG_BY_KEY: Readonly<Record<FlagKey, FlagSpec>> = Object.fromEntries(FLAGS.map((f) => [f.key, f])) as Record<FlagKey, FlagSpec>;
/** Every environment variable the node reads. */
export const ENV_NAMES: readonly string[] = FLAGS.map((f) => f.env);

/** A bad flag or variable value; `exitCode` is 2 (usage). */
export class FlagError extends Error {
  readonly exitCode = 2;
  constructor(
    readonly spec: FlagSpec | undefined,
    reason: string,
  ) {
    super(spec ? `invalid --${spec.flag} (${spec.env}): ${reason}` : reason);
    this.name = 'FlagError';
  }
}

const BIND_RULES: HostPortRules = { minPort: 0, ipOnly: true };
const HTTP_RULES: HostPortRules = { minPort: 0 };
const ADVERTISE_RULES: HostPortRules = { minPort: 1, portOptional: true };
const SEED_RULES: HostPortRules = { minPort: 1 };

function IsHostPort(rules: HostPortRules, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isHostPort',
      validator: {
        validate: (v: unknown) => typeof v === 'string' && hostPortProblem(v, rules) === undefined,
        defaultMessage: (args) => {
          const values = Array.isArray(args?.value) ? (args!.value as unknown[]) : [args?.value];
          for (const v of values) {
            const p = typeof v === 'string' ? hostPortProblem(v, rules) : 'must be a string';
            if (p) return `${JSON.stringify(v)}: ${p}`;
          }
          return 'invalid address';
        },
      },
    },
    options,
  );
}

function IsTagPair(options?: ValidationOptions): PropertyDecorator {
  const problem = (v: unknown): string | undefined => {
    if (typeof v !== 'string') return 'must be a string';
    const eq = v.indexOf('=');
    if (eq <= 0) return 'expected key=value';
    const key = v.slice(0, eq);
    if (!TAG_KEY_PATTERN.test(key)) return `tag key ${JSON.stringify(key)} may hold only letters, digits and . _ / - (1-128 characters)`;
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(v.slice(eq + 1))) return `tag ${JSON.stringify(key)} has control characters in its value`;
    return undefined;
  };
  return ValidateBy(
    {
      name: 'isTagPair',
      validator: {
        validate: (v: unknown) => problem(v) === undefined,
        defaultMessage: (args) => {
          const values = Array.isArray(args?.value) ? (args!.value as unknown[]) : [args?.value];
          for (const v of values) {
            const p = problem(v);
            if (p) return `${JSON.stringify(v)}: ${p}`;
          }
          return 'invalid tag';
        },
      },
    },
    options,
  );
}

function MaxItems(max: number): PropertyDecorator {
  return ValidateBy({
    name: 'maxItems',
    validator: {
      validate: (v: unknown) => Array.isArray(v) && v.length <= max,
      defaultMessage: () => `at most ${max} entries`,
    },
  });
}

/** The raw values, as given, checked by class-validator. */
export class NodeFlags {
  @IsOptional() @Matches(NODE_ID_PATTERN, { message: 'must be 1-128 letters, digits, . _ - starting with a letter or digit' })
  id?: string;

  @Matches(CLUSTER_PATTERN, { message: 'must be 1-64 letters, digits, . _ - starting with a letter or digit' })
  cluster: string = DEFAULT_CLUSTER;

  @IsHostPort(BIND_RULES)
  bind: string = DEFAULT_BIND;

  @IsOptional() @IsHostPort(ADVERTISE_RULES)
  advertise?: string;

  @MaxItems(MAX_SEEDS) @IsHostPort(SEED_RULES, { each: true })
  seeds: string[] = [];

  @MaxItems(MAX_TAGS) @IsTagPair({ each: true })
  tags: string[] = [];

  @IsHostPort(HTTP_RULES)
  http: string = DEFAULT_HTTP;

  @IsIn(PRESET_NAMES, { message: `must be one of ${PRESET_NAMES.join(', ')}` })
  preset: string = DEFAULT_PRESET;

  @IsOptional() @Matches(/\S/, { message: 'must be a file path' })
  tlsCa?: string;

  @IsOptional() @Matches(/\S/, { message: 'must be a file path' })
  tlsCert?: string;

  @IsOptional() @Matches(/\S/, { message: 'must be a file path' })
  tlsKey?: string;

  @Matches(/\S/, { message: 'must be a directory path' })
  dataDir: string = DEFAULT_DATA_DIR;

  @IsIn(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` })
  logLevel: string = DEFAULT_LOG_LEVEL;

  @IsOptional()
  @IsInt({ message: 'must be a whole number of milliseconds' })
  @Min(MIN_SHUTDOWN_TIMEOUT_MS, { message: `must be at least ${MIN_SHUTDOWN_TIMEOUT_MS} ms` })
  @Max(MAX_SHUTDOWN_TIMEOUT_MS, { message: `must be at most ${MAX_SHUTDOWN_TIMEOUT_MS} ms` })
  shutdownTimeout?: number;
}

/** What the node runs with, after parsing and validation. */
export interface NodeSettings {
  /** Undefined: take (or make) a generated id from the data dir. */
  id: string | undefined;
  cluster: string;
  bindHost: string;
  bindPort: number;
  /** Undefined: derived from the bind address (the transport picks the first non-loopback IPv4 for 0.0.0.0). */
  advertise: HostPort | undefined;
  seeds: HostPort[];
  tags: Tags;
  httpHost: string;
  httpPort: number;
  preset: PresetName;
  tls: { caPath: string; certPath: string; keyPath: string } | undefined;
  dataDir: string;
  logLevel: LogLevel;
  shutdownTimeoutMs: number;
}

export type ParsedArgs = { kind: 'help' } | { kind: 'run'; settings: NodeSettings; sources: Partial<Record<FlagKey, 'flag' | 'env'>> };

const BY_FLAG = new Map(FLAGS.map((f) => [f.flag, f]));

function splitList(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Every node flag takes a value; all are `multiple` so a repeated single-value flag can be refused. */
const ARGV_OPTIONS: ArgvOptions = { help: { type: 'boolean', short: 'h' }, ...Object.fromEntries(FLAGS.map((f) => [f.flag, { type: 'string', multiple: true }])) };

function splitNodeArgv(argv: readonly string[]) {
  try {
    return splitArgv(argv, ARGV_OPTIONS);
  } catch (e) {
    if (!(e instanceof ArgvError)) throw e;
    const spec = e.key === undefined ? undefined : BY_FLAG.get(e.key);
    if (spec) throw new FlagError(spec, e.problem);
    throw new FlagError(undefined, e.key === undefined ? `unknown flag ${e.option} (see --help)` : `${e.message} (see --help)`);
  }
}

/** Reads argv (flags only, no positional arguments) and env into raw values. */
function collect(argv: readonly string[], env: NodeJS.ProcessEnv): { help: boolean; raw: Partial<Record<FlagKey, string | string[]>>; sources: Partial<Record<FlagKey, 'flag' | 'env'>> } {
  const { values, positionals } = splitNodeArgv(argv);
  if (positionals.length) throw new FlagError(undefined, `unexpected argument ${JSON.stringify(positionals[0])} (flags start with --; see --help)`);
  const raw: Partial<Record<FlagKey, string | string[]>> = {};
  const sources: Partial<Record<FlagKey, 'flag' | 'env'>> = {};
  for (const spec of FLAGS) {
    const given = values[spec.flag] as string[] | undefined;
    if (given) {
      if (!spec.list && given.length > 1) throw new FlagError(spec, 'given more than once');
      sources[spec.key] = 'flag';
      raw[spec.key] = spec.list ? given.flatMap((v) => (spec.key === 'tags' ? [v] : splitList(v))) : given[0]!;
      continue;
    }
    const e = env[spec.env];
    if (e !== undefined && e.trim() !== '') {
      sources[spec.key] = 'env';
      raw[spec.key] = spec.list ? splitList(e) : e.trim();
    }
  }
  return { help: values['help'] === true, raw, sources };
}

function firstMessage(err: ValidationError): string {
  const c = err.constraints ?? {};
  const msgs = Object.values(c);
  return msgs[0] ?? 'invalid value';
}

/** Parses and validates; throws FlagError. */
export function parseNodeArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedArgs {
  const { help, raw, sources } = collect(argv, env);
  if (help) return { kind: 'help' };
  const flags = new NodeFlags();
  for (const [k, v] of Object.entries(raw) as [FlagKey, string | string[]][]) {
    if (k === 'shutdownTimeout') {
      const s = v as string;
      (flags as unknown as Record<string, unknown>)[k] = /^-?[0-9]+$/.test(s) ? Number(s) : s;
    } else {
      (flags as unknown as Record<string, unknown>)[k] = v;
    }
  }
  const errors = validateSync(flags, { forbidUnknownValues: true });
  if (errors.length) {
    // Report in table order, so the message is stable.
    const byKey = new Map(errors.map((e) => [e.property, e]));
    for (const spec of FLAGS) {
      const e = byKey.get(spec.key);
      if (!e) continue;
      const msg = firstMessage(e);
      const shown = JSON.stringify(e.value);
      throw new FlagError(spec, Array.isArray(e.value) || msg.startsWith(shown) ? msg : `${shown}: ${msg}`);
    }
  }
  return { kind: 'run', settings: toSettings(flags), sources };
}

function toSettings(f: NodeFlags): NodeSettings {
  const preset = f.preset as PresetName;
  const config = PRESETS[preset];
  const bind = parseHostPort(f.bind, BIND_RULES);
  const http = parseHostPort(f.http, HTTP_RULES);
  const advertise = f.advertise === undefined ? undefined : parseHostPort(f.advertise, ADVERTISE_RULES);
  const seeds = f.seeds.map((s) => {
    const p = parseHostPort(s, SEED_RULES);
    return { host: p.host, port: p.port! };
  });
  const tags: Record<string, string> = {};
  for (const pair of f.tags) {
    const eq = pair.indexOf('=');
    const key = pair.slice(0, eq);
    if (key in tags) throw new FlagError(FLAG_BY_KEY.tags, `tag ${JSON.stringify(key)} given more than once`);
    tags[key] = pair.slice(eq + 1);
  }
  if (tagsSize(tags) > config.maxTagsBytes)
    throw new FlagError(FLAG_BY_KEY.tags, `tags take ${tagsSize(tags)} bytes, over the ${preset} preset's maxTagsBytes (${config.maxTagsBytes})`);
  const tlsGiven = [f.tlsCa, f.tlsCert, f.tlsKey].filter((v) => v !== undefined).length;
  if (tlsGiven !== 0 && tlsGiven !== 3) {
    const missing = (['tlsCa', 'tlsCert', 'tlsKey'] as const).find((k) => f[k] === undefined)!;
    throw new FlagError(FLAG_BY_KEY[missing], 'missing: give --tls-ca, --tls-cert and --tls-key together (or none, for dev certificates)');
  }
  if (advertise && advertise.port === undefined && bind.port === 0)
    throw new FlagError(FLAG_BY_KEY.advertise, `${JSON.stringify(f.advertise)}: give the port too, or a fixed --bind port (the bind port is 0)`);
  const shutdownTimeoutMs = f.shutdownTimeout ?? config.leaveTimeoutMs + SHUTDOWN_CLOSE_ALLOWANCE_MS;
  if (shutdownTimeoutMs <= config.leaveTimeoutMs)
    throw new FlagError(FLAG_BY_KEY.shutdownTimeout, `${shutdownTimeoutMs}: must be greater than the ${preset} preset's leaveTimeoutMs (${config.leaveTimeoutMs})`);
  return {
    id: f.id,
    cluster: f.cluster,
    bindHost: bind.host,
    bindPort: bind.port!,
    advertise: advertise && { host: advertise.host, port: advertise.port ?? bind.port! },
    seeds,
    tags,
    httpHost: http.host,
    httpPort: http.port!,
    preset,
    tls: tlsGiven ? { caPath: f.tlsCa!, certPath: f.tlsCert!, keyPath: f.tlsKey! } : undefined,
    dataDir: f.dataDir,
    logLevel: f.logLevel as LogLevel,
    shutdownTimeoutMs,
  };
}

/** The --help text: every flag with its variable and default. */
export function nodeHelp(command = 'shoal agent'): string {
  const rows = FLAGS.map((f) => [`--${f.flag} ${f.arg}`, f.env, f.help, f.default] as const);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  const lines = rows.map(([flag, env, help, def]) => `  ${flag.padEnd(w0)}  ${env.padEnd(w1)}  ${help}\n  ${''.padEnd(w0)}  ${''.padEnd(w1)}  default: ${def}`);
  return [
    `usage: ${command} [flags]`,
    '',
    'Runs a Shoal membership node: SWIM gossip over QUIC plus an admin HTTP API.',
    'Every flag has an environment variable twin; a flag given on the command line wins.',
    'With no flags: a one-node cluster on 127.0.0.1 with dev certificates in .shoal/.',
    '',
    `  ${'flag'.padEnd(w0)}  ${'variable'.padEnd(w1)}  meaning`,
    ...lines,
    `  ${'--help'.padEnd(w0)}  ${''.padEnd(w1)}  this text`,
    '',
    'Exit codes: 0 clean shutdown, 1 failure, 2 bad flag or variable.',
  ].join('\n');
}
