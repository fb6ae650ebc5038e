#!/usr/bin/env node
// Thin launcher so the bin link exists before the first build: runs the built CLI.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (!existsSync(cli)) {
  console.error('shoal: the node app is not built yet; run `npx nx run node:build` first');
  process.exit(1);
}
await import(cli);
