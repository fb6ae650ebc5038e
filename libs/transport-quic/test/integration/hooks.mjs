// Module hooks for child processes: `@shoal/<lib>` → libs/<lib>/src/index.ts, then the
// TypeScript hooks of ../ts-hooks.mjs (`.js` → `.ts` fallback, SWC transpile).
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve as tsResolve } from '../ts-hooks.mjs';

export { load } from '../ts-hooks.mjs';

const libsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export async function resolve(specifier, context, next) {
  const m = /^@shoal\/([a-z-]+)$/.exec(specifier);
  if (m) return { url: pathToFileURL(path.join(libsDir, m[1], 'src', 'index.ts')).href, shortCircuit: true };
  return tsResolve(specifier, context, next);
}
