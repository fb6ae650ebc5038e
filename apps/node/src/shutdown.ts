/**
 * The node's shutdown sequence, apart from the process so it can be tested:
 *
 *   request(reason) / first signal → close() (leave, then close everything) → exit(0)
 *   close() failed                                                          → exit(1)
 *   close() still running after boundMs                                     → exit(1)
 *   a second signal ≥ secondSignalGapMs after the first                      → exit(1) at once
 *   a second signal sooner than that                                        → ignored (same request)
 */
import { NODE_STOPPED_EVENT as NODE_STOPPED, NODE_STOPPING_EVENT as NODE_STOPPING } from './logger.js';

export interface ShutdownLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ShutdownOptions {
  /** The whole shutdown must finish within this (ms), else exit(1). */
  boundMs: number;
  /** A repeated signal closer than this to the first is taken as the same request. */
  secondSignalGapMs: number;
  /** Leaves the cluster and closes the application. */
  close(): Promise<void>;
  /** Runs once, just before exit (releases the id lock). */
  cleanup(): void;
  exit(code: number): void;
  log: ShutdownLog;
  now?: () => number;
}


export class Shutdown {
  private startedAt: number | undefined;
  private done = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: ShutdownOptions) {
    this.now = opts.now ?? Date.now;
  }

  get started(): boolean {
    return this.startedAt !== undefined;
  }

  /** Starts the graceful shutdown; later calls do nothing. */
  request(reason: string): void {
    if (this.startedAt !== undefined) return;
    this.startedAt = this.now();
    this.opts.log.info({ event: NODE_STOPPING, reason, boundMs: this.opts.boundMs }, 'leaving the cluster and shutting down');
    this.timer = setTimeout(() => {
      this.opts.log.error({ event: NODE_STOPPED, forced: true, boundMs: this.opts.boundMs }, 'shutdown did not finish within the bound: exiting');
      this.finish(1);
    }, this.opts.boundMs);
    void (async () => {
      try {
        await this.opts.close();
      } catch (e) {
        if (this.done) return;
        this.opts.log.error({ event: NODE_STOPPED, err: e, ms: this.now() - this.startedAt! }, 'error while closing');
        return this.finish(1);
      }
      if (this.done) return;
      this.opts.log.info({ event: NODE_STOPPED, ms: this.now() - this.startedAt! }, 'stopped');
      this.finish(0);
    })();
  }

  /** SIGTERM / SIGINT. */
  signal(signal: string): void {
    if (this.startedAt === undefined) return this.request(signal);
    if (this.done || this.now() - this.startedAt < this.opts.secondSignalGapMs) return;
    this.opts.log.error({ signal }, 'second signal during shutdown: exiting now');
    this.finish(1);
  }

  /** Exits at once (start-up failures, uncaught errors). */
  abort(code: number): void {
    this.finish(code);
  }

  private finish(code: number): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    try {
      this.opts.cleanup();
    } finally {
      this.opts.exit(code);
    }
  }
}
