import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, runCertsCli } from './certs-cli.js';
import { verifyPeerChain } from './tls/verify.js';
import * as x509 from './tls/x509.js';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shoal-certs-cli-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { stdout: (l: string) => out.push(l), stderr: (l: string) => err.push(l), cwd: dir } };
}

describe('runCertsCli', () => {
  it('init then issue produce a CA and a node certificate that verifies', async () => {
    const a = io();
    expect(await runCertsCli(['init', '--dir', 'ca'], a.io)).toBe(EXIT_OK);
    expect(a.out.join('\n')).toMatch(/ca-key\.pem/);
    const b = io();
    expect(await runCertsCli(['issue', '--dir', 'ca', '--id', 'node-1', '--out', 'nodes', '--ip', '127.0.0.1'], b.io)).toBe(EXIT_OK);
    const caPem = await fs.readFile(path.join(dir, 'ca', 'ca.pem'), 'utf8');
    const certPem = await fs.readFile(path.join(dir, 'nodes', 'node-1.pem'), 'utf8');
    expect((await fs.stat(path.join(dir, 'nodes', 'node-1-key.pem'))).mode & 0o777).toBe(0o600);
    const der = new Uint8Array(new x509.X509Certificate(certPem).rawData);
    expect(verifyPeerChain([der], caPem, new Date())).toEqual({ ok: true, nodeId: 'node-1' });
    // --out defaults to --dir
    expect(await runCertsCli(['issue', '--dir=ca', '--id=node-2'], io().io)).toBe(EXIT_OK);
    await fs.access(path.join(dir, 'ca', 'node-2.pem'));
  });

  it('usage errors exit 2 with a message', async () => {
    const cases: [string[], RegExp][] = [
      [[], /usage/],
      [['frobnicate'], /unknown command/],
      [['init'], /--dir is required/],
      [['init', '--dir'], /--dir needs a value/],
      [['init', '--dir', 'x', '--bogus'], /unknown option --bogus/],
      [['issue', '--dir', 'x'], /--id is required/],
      [['issue', '--dir', 'x', '--id', 'bad id'], /invalid node id/],
      [['init', '--dir', 'x', '--days', 'ten'], /--days must be/],
      [['init', '--dir', 'x', 'stray'], /unexpected argument "stray"/],
      [['init', '--dir', '--force'], /--dir needs a value/],
      [['init', '--dir='], /--dir needs a value/],
      [['init', '--dir', ''], /--dir needs a value/],
      [['init', '--dir', 'x', '--dir=y'], /--dir given twice/],
      [['init', '--dir', 'x', '--force=yes'], /--force takes no value/],
      [['init', '--dir', 'x', '--id', 'n'], /unknown option --id/],
      [['init', '--dir', 'x', '-f'], /unknown option -f/],
    ];
    for (const [argv, msg] of cases) {
      const c = io();
      expect(await runCertsCli(argv, c.io)).toBe(EXIT_USAGE);
      expect(c.err.join('\n')).toMatch(msg);
    }
    const h = io();
    expect(await runCertsCli(['--help'], h.io)).toBe(EXIT_OK);
    expect(h.out.join('\n')).toMatch(/certs init/);
  });

  it('takes a value that starts with one dash', async () => {
    expect(await runCertsCli(['init', '--dir', '-ca', '--days', '30'], io().io)).toBe(EXIT_OK);
    await fs.access(path.join(dir, '-ca', 'ca.pem'));
    expect(await runCertsCli(['issue', '--dir', '-ca', '--id', 'n', '--out', '-out'], io().io)).toBe(EXIT_OK);
    await fs.access(path.join(dir, '-out', 'n.pem'));
  });

  it('operational failures exit 1: missing CA, existing files', async () => {
    const a = io();
    expect(await runCertsCli(['issue', '--dir', 'nothing-here', '--id', 'n'], a.io)).toBe(EXIT_FAILURE);
    expect(a.err.join('\n')).toMatch(/cannot read CA certificate .*nothing-here/);
    expect(await runCertsCli(['init', '--dir', 'ca'], io().io)).toBe(EXIT_OK);
    const b = io();
    expect(await runCertsCli(['init', '--dir', 'ca'], b.io)).toBe(EXIT_FAILURE);
    expect(b.err.join('\n')).toMatch(/already exists/);
    expect(await runCertsCli(['init', '--dir', 'ca', '--force'], io().io)).toBe(EXIT_OK);
    expect(await runCertsCli(['issue', '--dir', 'ca', '--id', 'n'], io().io)).toBe(EXIT_OK);
    expect(await runCertsCli(['issue', '--dir', 'ca', '--id', 'n'], io().io)).toBe(EXIT_FAILURE);
    expect(await runCertsCli(['issue', '--dir', 'ca', '--id', 'n', '--force'], io().io)).toBe(EXIT_OK);
  });
});
