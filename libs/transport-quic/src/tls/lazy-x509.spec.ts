/**
 * Importing @shoal/transport-quic, and verifying peers with it, must not load
 * @peculiar/x509 (nor reflect-metadata, which x509.ts loads for it): only creating
 * certificates may, through ca.ts's dynamic `import('./x509.js')`.
 */
import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { createClusterCa, issueNodeCertificate } from './ca.js';

const srcDir = path.resolve(import.meta.dirname, '..');
const libsDir = path.resolve(srcDir, '../..');
const FORBIDDEN = /^(@peculiar\/|reflect-metadata$)/;

const transpileOptions: ts.CompilerOptions = {
  ...ts.getParsedCommandLineOfConfigFile(path.resolve(srcDir, '../tsconfig.lib.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!.options,
  // transpileModule cannot see package.json "type": ask for ES module output explicitly.
  module: ts.ModuleKind.ES2022,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  sourceMap: false,
  declaration: false,
};

/** Specifiers of the static imports and re-exports tsc keeps in its output for `file` (type-only ones are elided; `import()` is not a statement). */
function staticImports(file: string): string[] {
  const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), { fileName: file, compilerOptions: transpileOptions });
  const js = ts.createSourceFile(`${file}.js`, outputText, ts.ScriptTarget.ES2022, false, ts.ScriptKind.JS);
  const out: string[] = [];
  for (const st of js.statements) {
    if ((ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
      out.push(st.moduleSpecifier.text);
    }
  }
  return out;
}

function resolveSource(from: string, spec: string): string | undefined {
  const workspace = /^@shoal\/([a-z-]+)$/.exec(spec);
  if (workspace) return path.join(libsDir, workspace[1]!, 'src', 'index.ts');
  if (!spec.startsWith('.')) return undefined;
  const target = path.resolve(path.dirname(from), spec);
  const source = target.replace(/\.js$/, '.ts');
  if (existsSync(source)) return source;
  if (existsSync(target)) return target;
  throw new Error(`${from}: cannot resolve ${spec}`);
}

/** Walks the static import graph from `entry`: the files reached and the packages they import. */
function staticGraph(entry: string): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>(); // package specifier -> first importing file
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const spec of staticImports(file)) {
      const next = resolveSource(file, spec);
      if (next) queue.push(next);
      else if (!packages.has(spec)) packages.set(spec, path.relative(libsDir, file));
    }
  }
  return { files, packages };
}

describe('@peculiar/x509 is loaded lazily', () => {
  it('no module statically reachable from index.ts imports x509.ts, @peculiar/* or reflect-metadata', () => {
    const { files, packages } = staticGraph(path.join(srcDir, 'index.ts'));
    const rel = [...files].map((f) => path.relative(srcDir, f));
    // The walk really covers the TLS code (guards against a walk that finds nothing).
    expect(rel).toEqual(expect.arrayContaining(['tls/ca.ts', 'tls/certificate.ts', 'tls/verify.ts', 'tls/files.ts', 'quic-endpoint.ts', 'certs-cli.ts']));
    expect(rel).not.toContain('tls/x509.ts');
    expect([...packages].filter(([spec]) => FORBIDDEN.test(spec))).toEqual([]);
    expect(packages.has('@matrixai/quic')).toBe(true);
    // The same walk does see the static imports of x509.ts itself.
    expect([...staticGraph(path.join(srcDir, 'tls', 'x509.ts')).packages.keys()]).toEqual(['reflect-metadata', 'node:crypto', '@peculiar/x509']);
  });

  it('a process that imports the package and verifies a peer loads no @peculiar module until it creates a certificate', async () => {
    const ca = await createClusterCa();
    const node = await issueNodeCertificate(ca, { nodeId: 'lazy-1' });
    // Records every URL the ESM loader resolves, in the order resolved.
    const recorder = `
      let seen;
      export function initialize(data) { seen = data.seen; }
      export async function resolve(specifier, context, next) {
        const r = await next(specifier, context);
        seen.postMessage(r.url);
        return r;
      }`;
    const script = `
      import { register } from 'node:module';
      import { MessageChannel } from 'node:worker_threads';
      import { X509Certificate } from 'node:crypto';
      const urls = [];
      const { port1, port2 } = new MessageChannel();
      port1.on('message', (u) => urls.push(u));
      port1.unref();
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(recorder)}), { data: { seen: port2 }, transferList: [port2] });
      const flush = () => new Promise((r) => setTimeout(r, 100));
      const forbidden = () => urls.filter((u) => /\\/node_modules\\/(@peculiar\\/|reflect-metadata\\/)/.test(u));
      const m = await import(${JSON.stringify(pathToFileURL(path.join(srcDir, 'index.ts')).href)});
      const { caPem, certPem } = JSON.parse(process.env.LAZY_X509_TLS);
      const verified = m.verifyPeerChain([new Uint8Array(new X509Certificate(certPem).raw)], caPem, new Date());
      const id = m.nodeIdFromCertificate(m.parseCertificatePem(certPem));
      await flush();
      const afterVerify = { verified, id, modules: urls.length, quic: urls.some((u) => u.includes('/@matrixai/quic/')), forbidden: forbidden() };
      await m.createClusterCa();
      await flush();
      console.log(JSON.stringify({ afterVerify, afterCreate: { forbidden: forbidden().length } }));
    `;
    const child = spawn(process.execPath, ['--import', path.resolve(srcDir, '../test/register-ts.mjs'), '--input-type=module', '-e', script], {
      cwd: path.resolve(srcDir, '..'),
      env: { ...process.env, LAZY_X509_TLS: JSON.stringify({ caPem: ca.certPem, certPem: node.certPem }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    clearTimeout(timer);
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
    const result = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(result.afterVerify).toEqual({ verified: { ok: true, nodeId: 'lazy-1' }, id: 'lazy-1', modules: expect.any(Number), quic: true, forbidden: [] });
    expect(result.afterVerify.modules).toBeGreaterThan(10);
    // The recorder does see @peculiar/x509 once a certificate is created.
    expect(result.afterCreate.forbidden).toBeGreaterThan(0);
  }, 60_000);
});
