/**
 * Argument splitting for the node flags and the shoal client commands: util.parseArgs in
 * strict mode, positionals returned for the caller to judge, errors as ArgvError.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type ArgvOptions = NonNullable<ParseArgsConfig['options']>;

/** A flag problem. `option` as typed (`--nope`, `-x`); `key` its key in the options, for a known one. */
export class ArgvError extends Error {
  constructor(
    readonly option: string,
    readonly key: string | undefined,
    readonly problem: 'unknown option' | 'needs a value' | 'takes no value',
  ) {
    super(key === undefined ? `unknown option ${option}` : `${option} ${problem}`);
    this.name = 'ArgvError';
  }
}

/**
 * `--flag -x` becomes `--flag=-x`: strict parseArgs refuses a separate value starting with a
 * dash, and these commands have always taken one (a value starting with `--` still counts as missing).
 */
function joinDashValues(args: readonly string[], options: ArgvOptions): string[] {
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  const joined = new Map(tokens.flatMap((t) => (t.kind === 'option' && t.inlineValue === false && /^-[^-]/.test(t.value) ? [[t.index, `--${t.name}=${t.value}`] as const] : [])));
  return args.flatMap((a, i) => joined.get(i) ?? (joined.has(i - 1) ? [] : [a]));
}

/** parseArgs's error, with the option it names (its messages quote it: "Unknown option '--x'", "Option '--x <value>' argument missing"). */
function argvError(e: unknown, options: ArgvOptions): unknown {
  // Not `instanceof Error`: under Jest's VM modules node's own errors come from another realm.
  const { code, message } = e as { code?: unknown; message?: unknown };
  const option = /'(?:-\w, )?(--?[^'\s,]+)/.exec(String(message))?.[1];
  if (option === undefined || (code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && code !== 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE')) return e;
  const name = option.startsWith('--') ? option.slice(2) : Object.keys(options).find((k) => `-${options[k]!.short}` === option);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || name === undefined || !(name in options)) return new ArgvError(option, undefined, 'unknown option');
  return new ArgvError(`--${name}`, name, options[name]!.type === 'boolean' ? 'takes no value' : 'needs a value');
}

export interface SplitArgv {
  /** Per option key: a string, `true`, or a list for `multiple` options; absent when not given. */
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** Splits args by the options (strict; positionals allowed); throws ArgvError. */
export function splitArgv(args: readonly string[], options: ArgvOptions): SplitArgv {
  const config = { args: joinDashValues(args, options), options, strict: true, allowPositionals: true } as const;
  try {
    return parseArgs(config);
  } catch (e) {
    throw argvError(e, options);
  }
}
