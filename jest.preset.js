// Shared Jest settings: native ESM (run under node --experimental-vm-modules), SWC transform
// with decorator metadata, `.js` stripped from relative imports, and workspace libs mapped
// to their sources so tests never need a prior build.
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(fileURLToPath(import.meta.url));

export function preset(projectDir, overrides = {}) {
  return {
    rootDir: projectDir,
    testEnvironment: 'node',
    setupFiles: [`${root}/tools/jest/fast-check-seed.mjs`],
    extensionsToTreatAsEsm: ['.ts'],
    testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
    moduleNameMapper: {
      '^@shoal/([a-z-]+)$': `${root}/libs/$1/src/index.ts`,
      '^(\\.{1,2}/.*)\\.js$': '$1',
    },
    transform: {
      '^.+\\.ts$': [
        '@swc/jest',
        {
          jsc: {
            target: 'es2022',
            parser: { syntax: 'typescript', decorators: true },
            transform: { legacyDecorator: true, decoratorMetadata: true },
          },
          module: { type: 'es6' },
        },
      ],
    },
    ...overrides,
  };
}
