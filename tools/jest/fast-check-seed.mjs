// Property tests explore new random cases on every local run; CI runs a fixed seed so a
// submission's result does not depend on luck. FC_SEED=<n> replays any run (fast-check
// prints the seed of a failure).
import fc from 'fast-check';

const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : process.env.CI ? 20261127 : undefined;
if (seed !== undefined && Number.isFinite(seed)) fc.configureGlobal({ seed });
