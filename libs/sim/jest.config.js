import path from 'node:path';
import { preset } from '../../jest.preset.js';

// The shared preset, with the SWC transform wrapped by jest-fast-globals.cjs (see there: it
// makes built-in globals fast inside Jest's vm context, which the long simulations need).
const base = preset(import.meta.dirname);
const key = '^.+\\.ts$';
const [, swcOptions] = base.transform[key];
export default {
  ...base,
  transform: { [key]: [path.join(import.meta.dirname, 'jest-fast-globals.cjs'), swcOptions] },
};
