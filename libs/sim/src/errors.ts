/** Errors raised by the simulator. Every one names the seed, so a failing run can be replayed. */
export class SimError extends Error {
  constructor(
    readonly seed: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`seed=${seed}: ${message}`, options);
    this.name = 'SimError';
  }
}

/** A protocol invariant did not hold (convergence, incarnations, false failures, detection). */
export class InvariantViolation extends SimError {
  constructor(
    seed: number,
    readonly invariant: string,
    detail: string,
  ) {
    super(seed, `invariant "${invariant}" violated: ${detail}`);
    this.name = 'InvariantViolation';
  }
}
