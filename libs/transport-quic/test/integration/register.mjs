// Usage: node --import ./test/integration/register.mjs test/integration/node-child.ts
// Like ../register-ts.mjs, and maps `@shoal/<lib>` to that lib's TypeScript sources (as
// Jest does), so a child process runs exactly the code under test, never a stale build.
import { register } from 'node:module';
register('./hooks.mjs', import.meta.url);
