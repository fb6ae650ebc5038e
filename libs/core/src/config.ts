/**
 * Every timing and limit of the protocol, in one object. Times are milliseconds, sizes
 * bytes. `resolveConfig()` merges a preset with overrides and validates the result;
 * `validateConfig()` throws a ConfigError that names the offending key and the rule.
 */
export interface ShoalConfig {
  /** Time between two probes of this node (one target per period). */
  probeIntervalMs: number;
  /** How long a direct ping waits for its ack before asking helpers. Must be < probeIntervalMs. */
  probeTimeoutMs: number;
  /** k: how many helpers are asked to probe a target indirectly (ping-req). */
  indirectChecks: number;
  /** Suspicion minimum = suspicionMult × max(1, log10(n)) × probeIntervalMs. */
  suspicionMult: number;
  /** Suspicion starts at suspicionMaxMult × minimum and shrinks toward the minimum with confirmations. */
  suspicionMaxMult: number;
  /** λ: an update is piggybacked at most retransmitMult × ceil(log10(n + 1)) times. */
  retransmitMult: number;
  /** Period of the dissemination-only gossip round (sent only when updates are queued). */
  gossipIntervalMs: number;
  /** How many random members each gossip round goes to. */
  gossipNodes: number;
  /** Period of the full-state push-pull exchange with one random member (0 turns it off). */
  pushPullIntervalMs: number;
  /**
   * Above this many members the push-pull interval grows in proportion to n / this, so the
   * full-state traffic each member sends per second stays flat as the cluster grows.
   * (memberlist stretches it by log2 only, which lets push-pull bytes per member grow as
   * n / log n and, at 1,000 members, outweigh all other traffic.)
   */
  pushPullScaleThreshold: number;
  /** Lifeguard: highest local health score; probe interval and timeout scale by score + 1. */
  awarenessMaxMultiplier: number;
  /** Lifeguard: ask ping-req helpers for a nack when they get no ack. */
  nackEnabled: boolean;
  /** Fraction of the probe timeout a ping-req helper waits before it sends a nack. */
  nackTimeoutRatio: number;
  /** Largest encoded message the core will produce; piggyback fills up to this budget. */
  maxMessageBytes: number;
  /** Largest total size (UTF-8 bytes of keys and values) of one member's tags. */
  maxTagsBytes: number;
  /** Largest number of members a node will hold (guards memory against floods). */
  maxMembers: number;
  /** How long failed and left members are kept as tombstones before being forgotten. */
  tombstoneMs: number;
  /** Keep gossiping to failed members for this long, so a falsely failed node learns and refutes. */
  gossipToTheDeadMs: number;
  /** Period of the rejoin attempt: push-pull with a random failed member or a seed. 0 turns it off. */
  reconnectIntervalMs: number;
  /** Join: first retry delay while no seed answers. */
  joinRetryBaseMs: number;
  /** Join: cap of the exponential retry delay. */
  joinRetryMaxMs: number;
  /** Graceful leave: the leave counts as spread after it has been sent this many times. */
  leaveMinSends: number;
  /** Graceful leave: the longest a node waits for its leave to spread. */
  leaveTimeoutMs: number;
  /** Phi accrual: phi above this moves a member to the front of the probe order. */
  phiThreshold: number;
  /** Phi accrual: how many inter-arrival samples are kept per member. */
  phiWindowSize: number;
  /** Phi accrual: floor for the standard deviation (avoids infinite phi on steady heartbeats). */
  phiMinStdDevMs: number;
  /** Phi accrual: pause tolerated on top of the mean before phi rises. */
  phiAcceptablePauseMs: number;
}

export type PresetName = 'lan' | 'wan' | 'local';

const LAN: ShoalConfig = {
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  suspicionMult: 4,
  suspicionMaxMult: 6,
  retransmitMult: 4,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  pushPullIntervalMs: 30_000,
  pushPullScaleThreshold: 32,
  awarenessMaxMultiplier: 8,
  nackEnabled: true,
  nackTimeoutRatio: 0.8,
  maxMessageBytes: 1400,
  maxTagsBytes: 512,
  maxMembers: 10_000,
  tombstoneMs: 6 * 3600_000,
  gossipToTheDeadMs: 30_000,
  reconnectIntervalMs: 10_000,
  joinRetryBaseMs: 1000,
  joinRetryMaxMs: 30_000,
  leaveMinSends: 3,
  leaveTimeoutMs: 5000,
  phiThreshold: 8,
  phiWindowSize: 100,
  phiMinStdDevMs: 100,
  phiAcceptablePauseMs: 0,
};

export const PRESETS: Readonly<Record<PresetName, Readonly<ShoalConfig>>> = {
  lan: LAN,
  wan: {
    ...LAN,
    probeIntervalMs: 5000,
    probeTimeoutMs: 3000,
    suspicionMult: 6,
    gossipIntervalMs: 500,
    gossipNodes: 4,
    pushPullIntervalMs: 60_000,
    gossipToTheDeadMs: 60_000,
    reconnectIntervalMs: 30_000,
    leaveTimeoutMs: 15_000,
    phiMinStdDevMs: 500,
  },
  local: {
    ...LAN,
    probeIntervalMs: 1000,
    probeTimeoutMs: 200,
    suspicionMult: 3,
    gossipIntervalMs: 100,
    pushPullIntervalMs: 15_000,
    gossipToTheDeadMs: 15_000,
    reconnectIntervalMs: 5000,
    leaveTimeoutMs: 2000,
  },
};

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    readonly rule: string,
    readonly value: unknown,
  ) {
    super(`invalid config ${key}=${JSON.stringify(value)}: ${rule}`);
    this.name = 'ConfigError';
  }
}

type Rule = { int?: boolean; min?: number; max?: number; bool?: boolean };

const RULES: Record<keyof ShoalConfig, Rule> = {
  probeIntervalMs: { int: true, min: 10, max: 600_000 },
  probeTimeoutMs: { int: true, min: 1, max: 600_000 },
  indirectChecks: { int: true, min: 0, max: 16 },
  suspicionMult: { min: 1, max: 100 },
  suspicionMaxMult: { min: 1, max: 100 },
  retransmitMult: { int: true, min: 1, max: 100 },
  gossipIntervalMs: { int: true, min: 1, max: 600_000 },
  gossipNodes: { int: true, min: 1, max: 64 },
  pushPullIntervalMs: { int: true, min: 0, max: 24 * 3600_000 },
  pushPullScaleThreshold: { int: true, min: 1, max: 1_000_000 },
  awarenessMaxMultiplier: { int: true, min: 1, max: 64 },
  nackEnabled: { bool: true },
  nackTimeoutRatio: { min: 0.1, max: 1 },
  maxMessageBytes: { int: true, min: 512, max: 1_048_576 },
  maxTagsBytes: { int: true, min: 0, max: 65_536 },
  maxMembers: { int: true, min: 1, max: 1_000_000 },
  tombstoneMs: { int: true, min: 0, max: 30 * 24 * 3600_000 },
  gossipToTheDeadMs: { int: true, min: 0, max: 24 * 3600_000 },
  reconnectIntervalMs: { int: true, min: 0, max: 24 * 3600_000 },
  joinRetryBaseMs: { int: true, min: 1, max: 600_000 },
  joinRetryMaxMs: { int: true, min: 1, max: 3600_000 },
  leaveMinSends: { int: true, min: 0, max: 100 },
  leaveTimeoutMs: { int: true, min: 0, max: 600_000 },
  phiThreshold: { min: 0.1, max: 1000 },
  phiWindowSize: { int: true, min: 2, max: 10_000 },
  phiMinStdDevMs: { min: 0.001, max: 600_000 },
  phiAcceptablePauseMs: { min: 0, max: 600_000 },
};

/** Checks every key; throws ConfigError naming the first that breaks its rule. */
export function validateConfig(config: Record<string, unknown>): asserts config is ShoalConfig & Record<string, unknown> {
  for (const key of Object.keys(config)) {
    if (!(key in RULES)) throw new ConfigError(key, 'unknown key', config[key]);
  }
  for (const [key, rule] of Object.entries(RULES) as [keyof ShoalConfig, Rule][]) {
    const v = config[key];
    if (rule.bool) {
      if (typeof v !== 'boolean') throw new ConfigError(key, 'must be a boolean', v);
      continue;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(key, 'must be a finite number', v);
    if (rule.int && !Number.isInteger(v)) throw new ConfigError(key, 'must be an integer', v);
    if (rule.min !== undefined && v < rule.min) throw new ConfigError(key, `must be >= ${rule.min}`, v);
    if (rule.max !== undefined && v > rule.max) throw new ConfigError(key, `must be <= ${rule.max}`, v);
  }
  const c = config as unknown as ShoalConfig;
  if (c.probeTimeoutMs >= c.probeIntervalMs)
    throw new ConfigError('probeTimeoutMs', `must be < probeIntervalMs (${c.probeIntervalMs})`, c.probeTimeoutMs);
  if (c.joinRetryMaxMs < c.joinRetryBaseMs)
    throw new ConfigError('joinRetryMaxMs', `must be >= joinRetryBaseMs (${c.joinRetryBaseMs})`, c.joinRetryMaxMs);
}

/** A preset merged with overrides, validated. */
export function resolveConfig(preset: PresetName = 'lan', overrides: Partial<ShoalConfig> = {}): ShoalConfig {
  const base = PRESETS[preset];
  if (!base) throw new ConfigError('preset', `must be one of ${Object.keys(PRESETS).join(', ')}`, preset);
  const merged: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) merged[k] = v;
  validateConfig(merged);
  return merged;
}

/** Lifeguard minimum suspicion timeout for a cluster of n members. */
export function suspicionMinMs(config: ShoalConfig, n: number): number {
  return config.suspicionMult * Math.max(1, Math.log10(Math.max(1, n))) * config.probeIntervalMs;
}

/** How many times an update is piggybacked in a cluster of n members. */
export function retransmitLimit(config: ShoalConfig, n: number): number {
  return config.retransmitMult * Math.ceil(Math.log10(n + 1));
}

/** Push-pull period for a cluster of n members (stretched linearly above the scale threshold). */
export function pushPullIntervalFor(config: ShoalConfig, n: number): number {
  if (n <= config.pushPullScaleThreshold) return config.pushPullIntervalMs;
  return Math.round((config.pushPullIntervalMs * n) / config.pushPullScaleThreshold);
}
