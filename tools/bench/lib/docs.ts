/** Where the workspace is, and rewriting one benchmark's section of docs/BENCHMARKS.md. */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The workspace root: the nearest directory above this file that holds nx.json. */
export function findRoot(): string {
  const here = fileURLToPath(import.meta.url);
  let dir = path.dirname(here);
  while (!existsSync(path.join(dir, 'nx.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`workspace root (nx.json) not found above ${here}`);
    dir = up;
  }
  return dir;
}

/**
 * Replaces the section of docs/BENCHMARKS.md that starts at the line `heading` (up to the
 * next `## ` heading) with `section`, or appends it; the file is replaced atomically.
 */
export function writeDocsSection(root: string, heading: string, section: string): void {
  if (!section.startsWith(`${heading}\n`)) throw new Error(`docs section does not start with its heading ${JSON.stringify(heading)}`);
  const file = path.join(root, 'docs', 'BENCHMARKS.md');
  mkdirSync(path.dirname(file), { recursive: true });
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Shoal benchmarks\n';
  let next: string;
  const start = current.indexOf(`\n${heading}\n`);
  if (start < 0) {
    next = `${current.replace(/\n*$/, '')}\n\n${section.trimEnd()}\n`;
  } else {
    const rest = current.slice(start + 1 + heading.length);
    const endRel = rest.search(/\n## /);
    const end = endRel < 0 ? current.length : start + 1 + heading.length + endRel + 1;
    next = `${current.slice(0, start + 1)}${section.trimEnd()}\n${end < current.length ? `\n${current.slice(end)}` : ''}`;
  }
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, next);
  renameSync(tmp, file);
}
