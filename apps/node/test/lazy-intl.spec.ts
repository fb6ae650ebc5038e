import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LazyDateTimeFormat } from '../src/lazy-intl.js';

const Real = Object.getPrototypeOf(new LazyDateTimeFormat()).constructor as typeof Intl.DateTimeFormat;
const OPTS: Intl.DateTimeFormatOptions = { year: 'numeric', month: '2-digit', day: '2-digit', hour: 'numeric', minute: 'numeric', second: 'numeric', timeZone: 'UTC' };
const T = Date.UTC(2026, 10, 27, 15, 4, 5);

describe('lazy Intl.DateTimeFormat', () => {
  it('formats exactly as the real one, with the same options and prototype', () => {
    expect(Real).not.toBe(LazyDateTimeFormat);
    expect(Real.name).toBe('DateTimeFormat');
    const lazy = new LazyDateTimeFormat('en-GB', OPTS);
    const real = new Intl.DateTimeFormat('en-GB', OPTS);
    expect(lazy.format(T)).toBe(real.format(T));
    expect(lazy.formatToParts(T)).toEqual(real.formatToParts(T));
    expect(lazy.resolvedOptions()).toEqual(real.resolvedOptions());
    expect(lazy instanceof Real).toBe(true);
    expect(Object.prototype.toString.call(lazy)).toBe(Object.prototype.toString.call(real));
    const { format } = lazy; // a detached format still works, as on the real one
    expect(format(T)).toBe(real.format(T));
  });

  it('leaves calls without new, statics and subclasses to the real constructor', () => {
    expect(LazyDateTimeFormat('en-US', OPTS).format(T)).toBe(new Real('en-US', OPTS).format(T));
    expect(LazyDateTimeFormat.supportedLocalesOf(['en-US'])).toEqual(['en-US']);
    class Sub extends LazyDateTimeFormat {}
    expect(new Sub('en-US', OPTS).format(T)).toBe(new Real('en-US', OPTS).format(T));
  });

  it('is installed by the app before NestJS builds its formatters, which still work', () => {
    const main = fileURLToPath(new URL('../src/lazy-intl.ts', import.meta.url));
    // The built module, loaded first in a fresh process, as main.ts does.
    const built = main.replace('/src/', '/dist/').replace(/\.ts$/, '.js');
    const code = `await import(${JSON.stringify(built)}); const { Logger } = await import('@nestjs/common');
      const real = Object.getPrototypeOf(new Intl.DateTimeFormat()).constructor;
      process.stdout.write(JSON.stringify({ patched: Intl.DateTimeFormat !== real, ok: typeof Logger === 'function', s: new Intl.DateTimeFormat('en-US', { year: 'numeric', timeZone: 'UTC' }).format(0) }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ patched: true, ok: true, s: '1970' });
  });
});
