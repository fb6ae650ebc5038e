/**
 * ShoalModule options: a class checked with class-validator when the module boots, so a bad
 * value stops the application with a ShoalOptionsError that names the key
 * (`bindPort`, `tls.certPem`, `pool.maxTotal`, `config.probeIntervalMs` …).
 */
import { isIP } from 'node:net';
import {
  Allow,
  IsArray,
  IsBoolean,
  IsDefined,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  ArrayMaxSize,
  MaxLength,
  Min,
  ValidateBy,
  ValidateNested,
  validateSync,
  type ValidationError,
  type ValidationOptions,
} from 'class-validator';
import { ConfigError, PRESETS, resolveConfig, tagsSize, type PresetName, type ShoalConfig, type Tags } from '@shoal/core';
import type { Logger } from 'pino';

/** Node ids and cluster names: what the transport puts in certificates and hellos. */
export const SHOAL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Most seed addresses accepted in `seeds`. */
export const MAX_SEEDS = 256;
/** Most characters of one PEM option (a certificate chain or a key). */
export const MAX_PEM_CHARS = 64 * 1024;
/** Longest any timeout option may be. */
export const MAX_TIMEOUT_MS = 600_000;

export const DEFAULT_BIND_HOST = '127.0.0.1';
export const DEFAULT_PRESET: PresetName = 'lan';
export const DEFAULT_READY_HEALTH_THRESHOLD = 4;
export const DEFAULT_SHUTDOWN_CLOSE_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_BUFFERED_EVENTS = 1024;
export const DEFAULT_METRICS_PREFIX = 'shoal_';

/** Mutual-TLS material: the cluster CA and this node's certificate and key, as PEM text. */
export class ShoalTlsOptions {
  @IsString()
  @MaxLength(MAX_PEM_CHARS)
  @Matches(/-----BEGIN CERTIFICATE-----/, { message: '$property must be a PEM certificate' })
  caPem!: string;

  @IsString()
  @MaxLength(MAX_PEM_CHARS)
  @Matches(/-----BEGIN CERTIFICATE-----/, { message: '$property must be a PEM certificate' })
  certPem!: string;

  @IsString()
  @MaxLength(MAX_PEM_CHARS)
  @Matches(/-----BEGIN (EC |RSA )?PRIVATE KEY-----/, { message: '$property must be a PEM private key' })
  keyPem!: string;
}

/** Connection pool limits (see ConnectionPoolOptions in @shoal/transport-quic for defaults). */
export class ShoalPoolOptions {
  /** Most connections to one peer (default 1). */
  @IsOptional() @IsInt() @Min(1) @Max(64) maxPerPeer?: number;
  /** Most connections in total, inbound included (default 64). */
  @IsOptional() @IsInt() @Min(1) @Max(100_000) maxTotal?: number;
  /** An unused connection is closed after this long (default 30 000 ms). */
  @IsOptional() @IsInt() @Min(0) @Max(MAX_TIMEOUT_MS) idleTimeoutMs?: number;
  /** Longest wait for a free slot (default 2 000 ms). */
  @IsOptional() @IsInt() @Min(0) @Max(MAX_TIMEOUT_MS) acquireTimeoutMs?: number;
  /** Longest a dial may take (default 2 000 ms). */
  @IsOptional() @IsInt() @Min(1) @Max(MAX_TIMEOUT_MS) dialTimeoutMs?: number;
  /** First backoff ceiling after a failed dial (default 500 ms). */
  @IsOptional() @IsInt() @Min(0) @Max(MAX_TIMEOUT_MS) backoffBaseMs?: number;
  /** Cap of the dial backoff (default 30 000 ms). */
  @IsOptional() @IsInt() @Min(0) @Max(MAX_TIMEOUT_MS) backoffMaxMs?: number;
  /** Peers whose backoff state is remembered (default 1 024). */
  @IsOptional() @IsInt() @Min(1) @Max(1_000_000) maxBackoffPeers?: number;
  /** Longest the pool waits for its connections to close (default 2 000 ms). */
  @IsOptional() @IsInt() @Min(0) @Max(MAX_TIMEOUT_MS) closeTimeoutMs?: number;
}

const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** A DNS host name: dot-separated labels of letters, digits and inner hyphens (a trailing dot allowed). */
function isHostName(v: string): boolean {
  const labels = (v.endsWith('.') ? v.slice(0, -1) : v).split('.');
  return labels.every((l) => HOST_LABEL.test(l));
}

function IsHost(opts?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isHost',
      validator: {
        validate: (v: unknown) => typeof v === 'string' && v.length <= 253 && (isIP(v) !== 0 || isHostName(v)),
        defaultMessage: () => '$property must be an IP address or a host name',
      },
    },
    opts,
  );
}

function IsHostPort(opts?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isHostPort',
      validator: {
        validate: (v: unknown) => {
          if (typeof v !== 'string' || v.length > 300) return false;
          const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(v);
          if (!m) return false;
          const port = Number(m[3]);
          return port >= 1 && port <= 65535 && (m[1] === undefined || isIP(m[1]) === 6);
        },
        defaultMessage: (a) => `${a?.property.replace(/s$/, '')} must be "host:port" (IPv6 as "[::1]:port", port 1-65535)`,
      },
    },
    opts,
  );
}

function IsStringRecord(opts?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isStringRecord',
      validator: {
        validate: (v: unknown) =>
          typeof v === 'object' && v !== null && !Array.isArray(v) && Object.entries(v).every(([k, x]) => k.length > 0 && typeof x === 'string'),
        defaultMessage: () => '$property must be an object of non-empty string keys to string values',
      },
    },
    opts,
  );
}

function IsPinoLogger(opts?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isPinoLogger',
      validator: {
        validate: (v: unknown) =>
          typeof v === 'object' && v !== null && ['error', 'warn', 'info', 'debug', 'child'].every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
        defaultMessage: () => '$property must be a pino logger (error, warn, info, debug and child methods)',
      },
    },
    opts,
  );
}

/** What ShoalModule.forRoot() takes (and a forRootAsync() factory returns). */
export class ShoalModuleOptions {
  /** This node's id, unique in the cluster; must match its certificate. */
  @IsString() @Matches(SHOAL_NAME_PATTERN, { message: '$property must be 1-128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit' })
  id!: string;

  /** The cluster name; nodes of other clusters are refused at the hello. */
  @IsString() @Matches(SHOAL_NAME_PATTERN, { message: '$property must be 1-128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit' })
  cluster!: string;

  /** Local address the UDP socket binds (default 127.0.0.1). */
  @IsOptional() @IsHost()
  bindHost?: string;

  /** UDP port (default 0: any free port). */
  @IsOptional() @IsInt() @Min(0) @Max(65535)
  bindPort?: number;

  /** "host:port" other nodes reach this one at (default: the bound address). */
  @IsOptional() @IsHostPort()
  advertise?: string;

  /** "host:port" addresses to join through (default none: a one-node cluster). */
  @IsOptional() @IsArray() @ArrayMaxSize(MAX_SEEDS) @IsHostPort({ each: true })
  seeds?: string[];

  /** Tags this node advertises (at most config.maxTagsBytes in total). */
  @IsOptional() @IsStringRecord()
  tags?: Record<string, string>;

  /** Timing preset: 'lan' (default), 'wan' or 'local'. */
  @IsOptional() @IsIn(Object.keys(PRESETS))
  preset?: PresetName;

  /** Overrides of single settings of the preset; checked by @shoal/core's resolveConfig. */
  @IsOptional() @IsObject()
  config?: Partial<ShoalConfig>;

  /** The cluster CA and this node's certificate and key (PEM). */
  @IsDefined() @IsObject() @ValidateNested()
  tls!: ShoalTlsOptions;

  /** Connection pool limits. */
  @IsOptional() @IsObject() @ValidateNested()
  pool?: ShoalPoolOptions;

  /** Further QUIC endpoint settings, passed through to (and checked by) the transport. */
  @IsOptional() @IsObject()
  endpoint?: Record<string, unknown>;

  /** On application shutdown, leave the cluster gracefully before stopping (default true). */
  @IsOptional() @IsBoolean()
  leaveOnShutdown?: boolean;

  /** The node is ready only while its local health score (0 = healthy) is below this (default 4). */
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(1) @Max(1000)
  readyHealthThreshold?: number;

  /**
   * Longest the close phase of a shutdown (pool, endpoint, socket) may take after the leave
   * (default 5 000 ms). A shutdown takes at most config.leaveTimeoutMs + this.
   */
  @IsOptional() @IsInt() @Min(0) @Max(MAX_TIMEOUT_MS)
  shutdownCloseTimeoutMs?: number;

  /**
   * When a shutdown was started by a signal, a second one of the same signal exits the
   * process at once with code 1 (default true).
   */
  @IsOptional() @IsBoolean()
  forceExitOnSecondSignal?: boolean;

  /** Member events held until the application has bootstrapped; beyond it the oldest are dropped (default 1 024). */
  @IsOptional() @IsInt() @Min(0) @Max(1_000_000)
  maxBufferedEvents?: number;

  /** Prefix of every metric name (default "shoal_"). */
  @IsOptional() @IsString() @Matches(/^([A-Za-z_:][A-Za-z0-9_:]*)?$/, { message: '$property must be a Prometheus metric name prefix' })
  metricsPrefix?: string;

  /** Labels added to every metric of this module (e.g. { node: 'a' } when several nodes share a scrape). */
  @IsOptional() @IsStringRecord()
  metricsDefaultLabels?: Record<string, string>;

  /** A pino logger for the runtime and the module (default: none; the module then uses Nest's Logger). */
  @IsOptional() @IsPinoLogger() @Allow()
  logger?: Logger;
}

/** The options with every default filled in and the protocol settings resolved. */
export interface ResolvedShoalOptions {
  id: string;
  cluster: string;
  bindHost: string;
  bindPort: number;
  advertise?: string;
  seeds: string[];
  tags: Tags;
  preset: PresetName;
  /** The preset with the overrides applied (validated). */
  config: ShoalConfig;
  /** The overrides as given (what the runtime receives with the preset). */
  configOverrides: Partial<ShoalConfig>;
  tls: { caPem: string; certPem: string; keyPem: string };
  pool: ShoalPoolOptions;
  endpoint: Record<string, unknown>;
  leaveOnShutdown: boolean;
  readyHealthThreshold: number;
  shutdownCloseTimeoutMs: number;
  forceExitOnSecondSignal: boolean;
  maxBufferedEvents: number;
  metricsPrefix: string;
  metricsDefaultLabels: Record<string, string>;
  logger?: Logger;
}

/** A ShoalModule option is missing or invalid. `key` is its path ("bindPort", "tls.certPem", "config.probeIntervalMs"). */
export class ShoalOptionsError extends Error {
  constructor(
    readonly key: string,
    readonly reasons: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(`invalid ShoalModule option "${key}": ${reasons.join('; ')}`, options);
    this.name = 'ShoalOptionsError';
  }
}

function firstError(errors: readonly ValidationError[], parent = ''): { key: string; reasons: string[] } | undefined {
  for (const e of errors) {
    const key = parent ? `${parent}.${e.property}` : e.property;
    if (e.constraints && Object.keys(e.constraints).length) {
      const reasons = Object.entries(e.constraints).map(([rule, msg]) => (rule === 'whitelistValidation' ? 'unknown option' : msg));
      return { key, reasons };
    }
    const nested = e.children?.length ? firstError(e.children, key) : undefined;
    if (nested) return nested;
  }
  return undefined;
}

function asClass<T extends object>(cls: new () => T, value: unknown): T | unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof cls) return value;
  return Object.assign(new cls(), value);
}

/**
 * Checks the options and fills in the defaults. Throws ShoalOptionsError naming the first
 * bad key (unknown keys included). Never changes its input.
 */
export function resolveShoalOptions(input: unknown): ResolvedShoalOptions {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ShoalOptionsError('options', ['must be an object']);
  const raw = input as Record<string, unknown>;
  const opts = Object.assign(new ShoalModuleOptions(), raw, {
    tls: asClass(ShoalTlsOptions, raw['tls']),
    pool: asClass(ShoalPoolOptions, raw['pool']),
  }) as ShoalModuleOptions;
  if (raw['pool'] === undefined) delete (opts as { pool?: unknown }).pool;
  const errors = validateSync(opts, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: false });
  const first = firstError(errors);
  if (first) throw new ShoalOptionsError(first.key, first.reasons);

  const preset = opts.preset ?? DEFAULT_PRESET;
  const overrides = { ...(opts.config ?? {}) };
  let config: ShoalConfig;
  try {
    config = resolveConfig(preset, overrides);
  } catch (e) {
    if (e instanceof ConfigError) throw new ShoalOptionsError(e.key === 'preset' ? 'preset' : `config.${e.key}`, [e.message], { cause: e });
    throw e;
  }
  const tags: Tags = { ...(opts.tags ?? {}) };
  const size = tagsSize(tags);
  if (size > config.maxTagsBytes) throw new ShoalOptionsError('tags', [`take ${size} bytes, over config.maxTagsBytes=${config.maxTagsBytes}`]);

  return {
    id: opts.id,
    cluster: opts.cluster,
    bindHost: opts.bindHost ?? DEFAULT_BIND_HOST,
    bindPort: opts.bindPort ?? 0,
    advertise: opts.advertise,
    seeds: [...(opts.seeds ?? [])],
    tags,
    preset,
    config,
    configOverrides: overrides,
    tls: { caPem: opts.tls.caPem, certPem: opts.tls.certPem, keyPem: opts.tls.keyPem },
    pool: { ...(opts.pool ?? {}) },
    endpoint: { ...(opts.endpoint ?? {}) },
    leaveOnShutdown: opts.leaveOnShutdown ?? true,
    readyHealthThreshold: opts.readyHealthThreshold ?? DEFAULT_READY_HEALTH_THRESHOLD,
    shutdownCloseTimeoutMs: opts.shutdownCloseTimeoutMs ?? DEFAULT_SHUTDOWN_CLOSE_TIMEOUT_MS,
    forceExitOnSecondSignal: opts.forceExitOnSecondSignal ?? true,
    maxBufferedEvents: opts.maxBufferedEvents ?? DEFAULT_MAX_BUFFERED_EVENTS,
    metricsPrefix: opts.metricsPrefix ?? DEFAULT_METRICS_PREFIX,
    metricsDefaultLabels: { ...(opts.metricsDefaultLabels ?? {}) },
    logger: opts.logger,
  };
}
