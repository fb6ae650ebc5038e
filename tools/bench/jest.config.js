import { preset } from '../../jest.preset.js';
export default preset(import.meta.dirname, { testMatch: ['<rootDir>/lib/**/*.spec.ts', '<rootDir>/transport/*.spec.ts'] });
