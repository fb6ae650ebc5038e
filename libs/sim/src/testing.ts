/**
 * Helpers for scenario tests: run a body with a seed and make sure any failure names it.
 * `SHOAL_SIM_SEED=<n>` in the environment overrides the seed (to replay or explore).
 */

/** The seed to use: SHOAL_SIM_SEED when set (an integer), else `fallback`. */
export function seedFromEnv(fallback: number): number {
  const raw = typeof process !== 'undefined' ? process.env['SHOAL_SIM_SEED'] : undefined;
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`SHOAL_SIM_SEED must be an integer in [0, 2^32), got ${raw}`);
  return n;
}

/** Runs `body(seed)`; an error thrown by it is rethrown with `seed=<n>` in its message (unless already there). */
export async function withSeed<T>(seed: number, body: (seed: number) => T | Promise<T>): Promise<T> {
  try {
    return await body(seed);
  } catch (e) {
    const tag = `seed=${seed}`;
    if (e instanceof Error) {
      if (!e.message.includes(tag)) {
        const old = e.message;
        const stack = e.stack; // read first: V8 formats it lazily, from the message
        e.message = `${tag}: ${old}`;
        if (stack) e.stack = old && stack.includes(old) ? stack.replace(old, e.message) : `${tag}\n${stack}`;
      }
      throw e;
    }
    throw new Error(`${tag}: ${String(e)}`, { cause: e });
  }
}
