/**
 * Command-line options of the benchmark scripts, on node:util parseArgs (strict): `--key=v`
 * and `--key v` both work, an unknown option or a missing value exits 2 with one line that
 * names the benchmark. Typed getters check ranges and choices the same way.
 *
 *   const opts = new BenchOptions('bench-x', process.argv.slice(2), { window: 'string', quick: 'boolean' });
 *   const windowS = opts.int('window', 5, 3600, 60);
 */
import { parseArgs } from 'node:util';

/** 'strings': a string option that may be given more than once. */
export type OptionKind = 'string' | 'boolean' | 'strings';

export class BenchOptions {
  private readonly values: Record<string, string | boolean | string[] | undefined>;

  constructor(
    private readonly bench: string,
    argv: readonly string[],
    spec: Record<string, OptionKind>,
  ) {
    const options = Object.fromEntries(Object.entries(spec).map(([k, kind]) => [k, kind === 'strings' ? { type: 'string' as const, multiple: true } : { type: kind }]));
    try {
      this.values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | string[] | undefined>;
    } catch (e) {
      const known = Object.keys(spec)
        .map((k) => `--${k}`)
        .join(' ');
      const hint = (e as { code?: string }).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' ? '; lists take commas or +, and through nx run … --args only +' : '';
      this.fail(`${(e as Error).message.replace(/\. To specify a positional argument.*$/s, '')}${hint} (known: ${known})`);
    }
  }

  /** Prints `<bench>: msg` and exits 2. */
  fail(msg: string): never {
    process.stderr.write(`${this.bench}: ${msg}\n`);
    process.exit(2);
  }

  /** Whether the option was given at all. */
  has(name: string): boolean {
    return this.values[name] !== undefined;
  }

  flag(name: string): boolean {
    return this.values[name] === true;
  }

  str(name: string): string | undefined;
  str(name: string, fallback: string): string;
  str(name: string, fallback?: string): string | undefined {
    const v = this.values[name];
    return typeof v === 'string' ? v : fallback;
  }

  /** Every value of a 'strings' option, in order. */
  all(name: string): string[] {
    const v = this.values[name];
    return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
  }

  /** An integer in [lo, hi]. */
  int(name: string, lo: number, hi: number, fallback: number): number {
    return this.number(name, lo, hi, fallback, true);
  }

  /** A finite number in [lo, hi] (`exclusiveLo`: in (lo, hi]). */
  num(name: string, lo: number, hi: number, fallback: number, exclusiveLo = false): number {
    const x = this.number(name, lo, hi, fallback, false);
    if (exclusiveLo && x === lo) this.fail(`--${name} must be a number in (${lo}, ${hi}]`);
    return x;
  }

  /**
   * A list, entries separated by commas or by `+` (`nx run <target> --args="--configs=a,b"`
   * hands the script `--configs=a b`: through Nx, write `a+b`); every entry must be one of
   * `known` when given; at least one entry.
   */
  list(name: string, fallback: readonly string[], known?: readonly string[]): string[] {
    const v = this.str(name);
    if (v === undefined) return [...fallback];
    const items = v
      .split(/[,+]/)
      .map((s) => s.trim())
      .filter(Boolean);
    if (items.length === 0) this.fail(`--${name} needs at least one entry`);
    if (known) for (const x of items) if (!known.includes(x)) this.fail(`--${name}: unknown ${JSON.stringify(x)} (known: ${known.join(', ')})`);
    return items;
  }

  /** One of `choices`. */
  choice<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const v = this.str(name);
    if (v === undefined) return fallback;
    if (!(choices as readonly string[]).includes(v)) this.fail(`--${name} must be one of ${choices.join(', ')}`);
    return v as T;
  }

  private number(name: string, lo: number, hi: number, fallback: number, integer: boolean): number {
    const v = this.str(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < lo || n > hi) {
      this.fail(`--${name} must be ${integer ? 'an integer' : 'a number'} in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
    }
    return n;
  }
}
