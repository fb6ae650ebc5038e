import { describe, expect, it } from '@jest/globals';
import { PRESETS } from '@shoal/core';
import { FLAGS, FlagError, nodeHelp, parseNodeArgs, type NodeSettings } from '../src/flags.js';

function settings(argv: string[], env: NodeJS.ProcessEnv = {}): NodeSettings {
  const r = parseNodeArgs(argv, env);
  if (r.kind !== 'run') throw new Error('expected settings');
  return r.settings;
}

function failure(argv: string[], env: NodeJS.ProcessEnv = {}): FlagError {
  try {
    parseNodeArgs(argv, env);
  } catch (e) {
    expect(e).toBeInstanceOf(FlagError);
    return e as FlagError;
  }
  throw new Error(`expected a FlagError for ${argv.join(' ')} ${JSON.stringify(env)}`);
}

describe('node flags', () => {
  it('has zero-config defaults', () => {
    const s = settings([]);
    expect(s).toMatchObject({
      id: undefined,
      cluster: 'shoal',
      bindHost: '127.0.0.1',
      bindPort: 7946,
      advertise: undefined,
      seeds: [],
      tags: {},
      httpHost: '127.0.0.1',
      httpPort: 7947,
      preset: 'lan',
      tls: undefined,
      dataDir: '.shoal',
      logLevel: 'info',
      shutdownTimeoutMs: PRESETS.lan.leaveTimeoutMs + 5000,
    });
  });

  it('reads every flag, in both --flag value and --flag=value forms', () => {
    const s = settings([
      '--id=n1',
      '--cluster',
      'prod',
      '--bind',
      '0.0.0.0:7000',
      '--advertise',
      '10.1.2.3',
      '--seeds',
      'a.example:7946,127.0.0.1:7000',
      '--seeds=[::1]:7001',
      '--tag',
      'role=api',
      '--tag=zone=eu-1',
      '--http',
      'localhost:0',
      '--preset',
      'local',
      '--tls-ca',
      'ca.pem',
      '--tls-cert',
      'n1.pem',
      '--tls-key',
      'n1-key.pem',
      '--data-dir',
      '/tmp/x',
      '--log-level',
      'debug',
      '--shutdown-timeout',
      '4000',
    ]);
    expect(s).toEqual({
      id: 'n1',
      cluster: 'prod',
      bindHost: '0.0.0.0',
      bindPort: 7000,
      advertise: { host: '10.1.2.3', port: 7000 },
      seeds: [
        { host: 'a.example', port: 7946 },
        { host: '127.0.0.1', port: 7000 },
        { host: '::1', port: 7001 },
      ],
      tags: { role: 'api', zone: 'eu-1' },
      httpHost: 'localhost',
      httpPort: 0,
      preset: 'local',
      tls: { caPath: 'ca.pem', certPath: 'n1.pem', keyPath: 'n1-key.pem' },
      dataDir: '/tmp/x',
      logLevel: 'debug',
      shutdownTimeoutMs: 4000,
    });
  });

  it('reads the environment twins, and a flag wins over its variable', () => {
    const env = {
      SHOAL_ID: 'from-env',
      SHOAL_SEEDS: 'x.example:1, y.example:2',
      SHOAL_TAGS: 'a=1,b=2',
      SHOAL_PRESET: 'wan',
      SHOAL_BIND: '0.0.0.0:7946',
      SHOAL_SHUTDOWN_TIMEOUT_MS: '20000',
    };
    const s = settings([], env);
    expect(s.id).toBe('from-env');
    expect(s.seeds).toEqual([
      { host: 'x.example', port: 1 },
      { host: 'y.example', port: 2 },
    ]);
    expect(s.tags).toEqual({ a: '1', b: '2' });
    expect(s.preset).toBe('wan');
    expect(s.shutdownTimeoutMs).toBe(20000);
    const o = settings(['--id', 'from-flag', '--tag', 'c=3'], env);
    expect(o.id).toBe('from-flag');
    expect(o.tags).toEqual({ c: '3' });
  });

  it.each([
    [['--bind', 'nonsense'], {}, '--bind', 'SHOAL_BIND'],
    [['--bind', 'example.com:7946'], {}, '--bind', 'SHOAL_BIND'],
    [[], { SHOAL_BIND: '127.0.0.1:70000' }, '--bind', 'SHOAL_BIND'],
    [['--http', '127.0.0.1:-1'], {}, '--http', 'SHOAL_HTTP'],
    [['--seeds', 'a.example'], {}, '--seeds', 'SHOAL_SEEDS'],
    [['--seeds', 'a.example:0'], {}, '--seeds', 'SHOAL_SEEDS'],
    [['--seeds', 'bad_name!:7946'], {}, '--seeds', 'SHOAL_SEEDS'],
    [['--tag', 'novalue'], {}, '--tag', 'SHOAL_TAGS'],
    [[], { SHOAL_TAGS: 'a=1,=2' }, '--tag', 'SHOAL_TAGS'],
    [['--tag', 'a=1', '--tag', 'a=2'], {}, '--tag', 'SHOAL_TAGS'],
    [['--tag', `big=${'x'.repeat(600)}`], {}, '--tag', 'SHOAL_TAGS'],
    [['--preset', 'fast'], {}, '--preset', 'SHOAL_PRESET'],
    [['--id', '-bad'], {}, '--id', 'SHOAL_ID'],
    [[], { SHOAL_CLUSTER: 'has space' }, '--cluster', 'SHOAL_CLUSTER'],
    [['--advertise', '1.2.3.4:0'], {}, '--advertise', 'SHOAL_ADVERTISE'],
    [['--advertise', '1.2.3.4', '--bind', '127.0.0.1:0'], {}, '--advertise', 'SHOAL_ADVERTISE'],
    [['--tls-ca', 'ca.pem'], {}, '--tls-cert', 'SHOAL_TLS_CERT'],
    [['--log-level', 'loud'], {}, '--log-level', 'SHOAL_LOG_LEVEL'],
    [['--shutdown-timeout', 'soon'], {}, '--shutdown-timeout', 'SHOAL_SHUTDOWN_TIMEOUT_MS'],
    [['--shutdown-timeout', '3000'], {}, '--shutdown-timeout', 'SHOAL_SHUTDOWN_TIMEOUT_MS'],
    [['--preset', 'local', '--shutdown-timeout', '1500'], {}, '--shutdown-timeout', 'SHOAL_SHUTDOWN_TIMEOUT_MS'],
    [['--id', 'a', '--id', 'b'], {}, '--id', 'SHOAL_ID'],
    [['--cluster'], {}, '--cluster', 'SHOAL_CLUSTER'],
  ])('rejects %j %j naming %s and %s', (argv, env, flag, variable) => {
    const e = failure(argv, env);
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain(flag);
    expect(e.message).toContain(variable);
  });

  it('rejects unknown flags and positional arguments', () => {
    expect(failure(['--nope']).message).toMatch(/unknown flag --nope/);
    expect(failure(['stray']).message).toMatch(/unexpected argument "stray"/);
  });

  it('takes repeated list flags, and values starting with one dash', () => {
    expect(settings(['--tag', 'a=b', '--tag', 'c=d']).tags).toEqual({ a: 'b', c: 'd' });
    expect(settings(['--seeds', 'a.example:1', '--seeds=b.example:2'], { SHOAL_SEEDS: 'c.example:3' }).seeds).toEqual([
      { host: 'a.example', port: 1 },
      { host: 'b.example', port: 2 },
    ]);
    expect(settings(['--data-dir', '-x']).dataDir).toBe('-x');
    expect(settings(['--data-dir=-y']).dataDir).toBe('-y');
    expect(settings(['--tag', 'k=-v']).tags).toEqual({ k: '-v' });
    // The dash value is taken, then refused by validation (not reported as missing).
    expect(failure(['--id', '-bad']).message).toMatch(/^invalid --id \(SHOAL_ID\): "-bad": /);
  });

  it.each([
    [['--cluster'], 'invalid --cluster (SHOAL_CLUSTER): needs a value'],
    [['--cluster', '--bind', '127.0.0.1:1'], 'invalid --cluster (SHOAL_CLUSTER): needs a value'],
    [['--id', 'a', '--id=b'], 'invalid --id (SHOAL_ID): given more than once'],
    [['--nope=1'], 'unknown flag --nope (see --help)'],
    [['-x'], 'unknown flag -x (see --help)'],
    [['--help=yes'], '--help takes no value (see --help)'],
    [['--', 'stray'], 'unexpected argument "stray" (flags start with --; see --help)'],
  ])('argv %j → %s', (argv, message) => {
    const e = failure(argv);
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe(message);
  });

  it('says why, with the offending value', () => {
    expect(failure(['--bind', '127.0.0.1:99999']).message).toBe('invalid --bind (SHOAL_BIND): "127.0.0.1:99999": port 99999 is outside 0-65535');
  });

  it('--help lists every flag with its variable and default', () => {
    expect(parseNodeArgs(['--help'], {})).toEqual({ kind: 'help' });
    expect(parseNodeArgs(['--bind', 'bad', '-h'], {})).toEqual({ kind: 'help' });
    const help = nodeHelp();
    for (const f of FLAGS) {
      expect(help).toContain(`--${f.flag}`);
      expect(help).toContain(f.env);
      expect(help).toContain(`default: ${f.default}`);
    }
  });
});
