#!/usr/bin/env node
// Module boundaries (ARCHITECTURE.md): imports flow down only, and libs/core stays pure.
// Usage: node tools/scripts/check-boundaries.mjs <nx project name>. Exits 1 listing each breach.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Which workspace packages each project type may import. */
const ALLOWED = {
  'type:core': [],
  'type:testing': ['type:core'],
  'type:transport': ['type:core'],
  'type:nest': ['type:core', 'type:transport'],
  'type:app': ['type:core', 'type:testing', 'type:transport', 'type:nest'],
  'type:e2e': ['type:core', 'type:testing', 'type:transport', 'type:nest', 'type:app'],
  'type:tooling': ['type:core', 'type:testing', 'type:transport', 'type:nest'],
};
/** What the pure core may never use: I/O, timers, wall clock, ambient randomness, frameworks. */
const CORE_FORBIDDEN = [
  [/\bDate\.now\s*\(/, 'Date.now() (take a Clock)'],
  [/\bnew Date\s*\(\s*\)/, 'new Date() (take a Clock)'],
  [/\bMath\.random\s*\(/, 'Math.random() (take a Random)'],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\s*\(/, 'timers (return a wake-up time)'],
  [/\bprocess\./, 'process (no ambient environment)'],
  [/from\s+['"](node:)?(net|dgram|fs|http|https|tls|child_process|worker_threads|os|crypto|timers)['"]/, 'Node I/O modules'],
  [/from\s+['"](@nestjs\/|@matrixai\/|pino)/, 'frameworks and transports'],
];

function projects() {
  const out = {};
  for (const group of ['libs', 'apps', 'tools']) {
    let dirs = [];
    try { dirs = readdirSync(path.join(root, group)); } catch { continue; }
    for (const d of dirs) {
      const dir = path.join(root, group, d);
      try {
        const pj = JSON.parse(readFileSync(path.join(dir, 'project.json'), 'utf8'));
        let pkg = null;
        try { pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).name; } catch {}
        out[pj.name] = { dir, tags: pj.tags ?? [], pkg };
      } catch {}
    }
  }
  return out;
}

function files(dir) {
  const out = [];
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) {
      if (e !== 'dist' && e !== 'node_modules') out.push(...files(p));
    }
    else if (p.endsWith('.ts') && !p.endsWith('.spec.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const name = process.argv[2];
const all = projects();
const me = all[name];
if (!me) {
  console.error(`check-boundaries: unknown project ${name}`);
  process.exit(2);
}
const myType = me.tags.find((t) => t.startsWith('type:'));
const byPkg = Object.fromEntries(Object.values(all).filter((p) => p.pkg).map((p) => [p.pkg, p]));
const problems = [];
// A project's code is its src/ (tools without one: the whole folder).
let srcDir = path.join(me.dir, 'src');
try { statSync(srcDir); } catch { srcDir = me.dir; }
for (const file of files(srcDir)) {
  const text = readFileSync(file, 'utf8');
  const rel = path.relative(root, file);
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](@shoal\/[a-z-]+)['"]/g)) {
    const target = byPkg[m[1]];
    const tType = target?.tags.find((t) => t.startsWith('type:'));
    if (!target) problems.push(`${rel}: imports unknown workspace package ${m[1]}`);
    else if (target !== me && !(ALLOWED[myType] ?? []).includes(tType))
      problems.push(`${rel}: ${myType} may not import ${m[1]} (${tType})`);
  }
  if (myType === 'type:core') {
    const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    for (const [re, what] of CORE_FORBIDDEN) if (re.test(code)) problems.push(`${rel}: the core may not use ${what}`);
  }
}
if (problems.length) {
  console.error(`Module boundary check failed for ${name}:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`boundaries ok: ${name} (${myType})`);
