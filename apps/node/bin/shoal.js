#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=1 --single-threaded
// The flags and environment of apps/node/node-flags.json (a smaller, single-threaded V8; see docs/BENCHMARKS.md).
// Thin launcher so the bin link exists before the first build: runs the built CLI.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (!existsSync(cli)) {
  console.error('shoal: the node app is not built yet; run `npx nx run node:build` first');
  process.exit(1);
}
await import(cli);
