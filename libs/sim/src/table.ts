/** Plain-text tables for the demo, the benchmark and debugging output. */
import type { Member } from '@shoal/core';

/** Left-aligned columns separated by two spaces, a rule under the header. Numbers are right-aligned. */
export function formatTable(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const line = (r: readonly string[]): string =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

/** id, address, state, incarnation, tags (k=v, sorted) of each member. */
export function formatMemberTable(members: readonly Member[]): string {
  return formatTable(
    ['id', 'address', 'state', 'incarnation', 'tags'],
    members.map((m) => [
      m.id,
      m.address,
      m.state,
      m.incarnation,
      Object.keys(m.tags)
        .sort()
        .map((k) => `${k}=${m.tags[k]}`)
        .join(','),
    ]),
  );
}
