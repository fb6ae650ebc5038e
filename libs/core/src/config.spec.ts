import { describe, expect, it } from '@jest/globals';
import { ConfigError, PRESETS, resolveConfig, retransmitLimit, suspicionMinMs, validateConfig, pushPullIntervalFor } from './config.js';

describe('config', () => {
  it('lan preset has the documented values', () => {
    const c = resolveConfig('lan');
    expect(c).toMatchObject({
      probeIntervalMs: 1000,
      probeTimeoutMs: 500,
      indirectChecks: 3,
      suspicionMult: 4,
      suspicionMaxMult: 6,
      retransmitMult: 4,
      gossipIntervalMs: 200,
      gossipNodes: 3,
      pushPullIntervalMs: 30_000,
    });
  });

  it.each(Object.keys(PRESETS))('preset %s is valid', (name) => {
    expect(() => validateConfig({ ...PRESETS[name as 'lan'] })).not.toThrow();
  });

  it('names the offending key and the rule', () => {
    expect(() => resolveConfig('lan', { probeIntervalMs: -5 })).toThrow(ConfigError);
    try {
      resolveConfig('lan', { indirectChecks: 2.5 });
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).key).toBe('indirectChecks');
      expect((e as ConfigError).message).toContain('must be an integer');
    }
  });

  it('rejects a probe timeout not shorter than the interval', () => {
    expect(() => resolveConfig('lan', { probeTimeoutMs: 1000 })).toThrow(/probeTimeoutMs.*must be < probeIntervalMs/);
  });

  it('rejects unknown keys and wrong types', () => {
    expect(() => validateConfig({ ...PRESETS.lan, bogus: 1 })).toThrow(/bogus.*unknown key/);
    expect(() => validateConfig({ ...PRESETS.lan, nackEnabled: 'yes' })).toThrow(/nackEnabled.*boolean/);
    expect(() => resolveConfig('nope' as 'lan')).toThrow(/preset/);
  });

  it.each([
    [1, 4000],
    [10, 4000],
    [100, 8000],
    [1000, 12000],
  ])('suspicion minimum for n=%i is %i ms on lan', (n, ms) => {
    expect(suspicionMinMs(resolveConfig('lan'), n)).toBeCloseTo(ms, 6);
  });

  it.each([
    [1, 4],
    [9, 4],
    [10, 8],
    [99, 8],
    [100, 12],
    [1000, 16],
  ])('retransmit limit for n=%i is %i on lan', (n, limit) => {
    expect(retransmitLimit(resolveConfig('lan'), n)).toBe(limit);
  });

  it('stretches push-pull above the scale threshold', () => {
    const c = resolveConfig('lan');
    expect(pushPullIntervalFor(c, 32)).toBe(30_000);
    expect(pushPullIntervalFor(c, 64)).toBe(60_000);
    expect(pushPullIntervalFor(c, 1000)).toBe(937_500);
    // Full-state bytes per member per second (∝ n / interval) stay flat above the threshold.
    expect(100 / pushPullIntervalFor(c, 100)).toBeCloseTo(1000 / pushPullIntervalFor(c, 1000), 8);
  });
});
