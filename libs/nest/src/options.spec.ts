import { describe, expect, it } from '@jest/globals';
import { PRESETS } from '@shoal/core';
import { resolveShoalOptions, ShoalOptionsError } from './options.js';

const PEM_CERT = '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n';
const PEM_KEY = '-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n';
const base = { id: 'n1', cluster: 'c1', tls: { caPem: PEM_CERT, certPem: PEM_CERT, keyPem: PEM_KEY } };

function keyOf(input: unknown): string | undefined {
  try {
    resolveShoalOptions(input);
    return undefined;
  } catch (e) {
    if (e instanceof ShoalOptionsError) return e.key;
    throw e;
  }
}

describe('resolveShoalOptions', () => {
  it('fills in the defaults and resolves the preset', () => {
    const r = resolveShoalOptions(base);
    expect(r).toMatchObject({
      bindHost: '127.0.0.1',
      bindPort: 0,
      seeds: [],
      tags: {},
      preset: 'lan',
      leaveOnShutdown: true,
      readyHealthThreshold: 4,
      shutdownCloseTimeoutMs: 5000,
      forceExitOnSecondSignal: true,
      maxBufferedEvents: 1024,
      metricsPrefix: 'shoal_',
    });
    expect(r.config).toEqual(PRESETS.lan);
    expect(resolveShoalOptions({ ...base, preset: 'local', config: { probeIntervalMs: 500 } }).config.probeIntervalMs).toBe(500);
  });

  it.each(['0.0.0.0', '::', 'localhost', 'node-0.shoal.default.svc.cluster.local', 'host.'])('accepts bind host %s', (bindHost) => {
    expect(keyOf({ ...base, bindHost })).toBeUndefined();
  });

  it.each(['', '-x', 'a..b', 'bad_host', 'a'.repeat(64), `${'a'.repeat(40)}!`])('refuses bind host %j', (bindHost) => {
    expect(keyOf({ ...base, bindHost })).toBe('bindHost');
  });

  it.each(['10.0.0.1:7946', '[::1]:7946', 'node-0.svc:1'])('accepts seed %s', (seed) => {
    expect(keyOf({ ...base, seeds: [seed] })).toBeUndefined();
  });

  it.each(['10.0.0.1', '10.0.0.1:0', '10.0.0.1:70000', '::1:7946', '[::1:7946'])('refuses seed %j', (seed) => {
    expect(keyOf({ ...base, seeds: [seed] })).toBe('seeds');
  });

  it('names the key of the first problem, nested ones with their path', () => {
    expect(keyOf(null)).toBe('options');
    expect(keyOf({ ...base, id: undefined })).toBe('id');
    expect(keyOf({ ...base, tls: { ...base.tls, keyPem: PEM_CERT } })).toBe('tls.keyPem');
    expect(keyOf({ ...base, tls: { ...base.tls, extra: 1 } })).toBe('tls.extra');
    expect(keyOf({ ...base, pool: { dialTimeoutMs: 0 } })).toBe('pool.dialTimeoutMs');
    expect(keyOf({ ...base, seeds: Array(300).fill('a:1') })).toBe('seeds');
    expect(keyOf({ ...base, tags: { big: 'x'.repeat(600) } })).toBe('tags');
    expect(keyOf({ ...base, config: { probeTimeoutMs: 5000 } })).toMatch(/^config\./);
    expect(keyOf({ ...base, metricsPrefix: '1bad' })).toBe('metricsPrefix');
  });

  it('does not change its input', () => {
    const input = { ...base, seeds: ['a:1'], tags: { r: 'x' } };
    const copy = JSON.parse(JSON.stringify(input)) as typeof input;
    resolveShoalOptions(input);
    expect(input).toEqual(copy);
  });
});
