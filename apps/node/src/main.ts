#!/usr/bin/env node
/** The node app's entry point: `node apps/node/dist/main.js [flags]` (what `nx serve node` runs). */
import './lazy-intl.js'; // first: before NestJS is loaded
import { runNode } from './node.js';

await runNode(process.argv.slice(2), { command: 'node apps/node/dist/main.js' });
