/** docs/CONFIGURATION.md is the reference: it must name every flag, variable, route and log event the app has. */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { adminRoutes } from '../src/admin/routes.js';
import { DEFAULT_BIND, DEFAULT_HTTP, FLAGS } from '../src/flags.js';
import { MEMBER_EVENT_NAMES, NODE_STARTED_EVENT, NODE_STOPPED_EVENT, NODE_STOPPING_EVENT } from '../src/logger.js';
import { memberLogLine } from '../src/logger.js';

const doc = readFileSync(fileURLToPath(new URL('../../../docs/CONFIGURATION.md', import.meta.url)), 'utf8');

describe('docs/CONFIGURATION.md', () => {
  it('lists every flag with its variable on one table row', () => {
    for (const f of FLAGS) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`--${f.flag}`));
      expect(row).toBeDefined();
      expect(row).toContain(`\`${f.env}\``);
    }
    expect(doc).toContain(DEFAULT_BIND);
    expect(doc).toContain(DEFAULT_HTTP);
  });

  it('documents every admin route', () => {
    for (const r of adminRoutes()) expect(doc).toContain(`\`${r.method} ${r.path}`);
  });

  it('documents every membership log event and every field of the line', () => {
    for (const name of Object.values(MEMBER_EVENT_NAMES)) expect(doc).toContain(`| \`${name}\``);
    for (const name of [NODE_STARTED_EVENT, NODE_STOPPING_EVENT, NODE_STOPPED_EVENT]) expect(doc).toContain(`| \`${name}\``);
    const line = memberLogLine({
      type: 'joined',
      member: { id: 'n', address: '127.0.0.1:1', incarnation: 0, state: 'alive', tags: {}, stateChangedAt: 0 },
      time: 1,
    });
    for (const field of [...Object.keys(line), 'node']) expect(doc).toContain(`| \`${field}\` |`);
  });
});
