import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleDestroy,
} from '@nestjs/common';
import type { NodeRuntime } from '@shoal/transport-quic';
import { SHOAL_OPTIONS, SHOAL_RUNTIME } from './constants.js';
import { ShoalEventBus } from './event-bus.js';
import { shoalLog, type ShoalLog } from './logger.js';
import type { ResolvedShoalOptions } from './options.js';

export type ShoalPhase = 'starting' | 'running' | 'shutting-down' | 'stopped';

/** Extra time allowed on top of config.leaveTimeoutMs before the leave wait is abandoned. */
export const LEAVE_GRACE_MS = 500;

/**
 * Graceful shutdown. With app.enableShutdownHooks() (or on app.close()):
 *   1. onModuleDestroy: the node stops being ready (health indicator reports down).
 *   2. beforeApplicationShutdown: when leaveOnShutdown, the node announces its leave
 *      (incarnation + 1) and waits until it has spread to config.leaveMinSends members or
 *      config.leaveTimeoutMs passed (+ LEAVE_GRACE_MS at most). HTTP still answers here.
 *   3. onApplicationShutdown: the runtime stops (timers, pool connections, endpoint, UDP
 *      socket), bounded by shutdownCloseTimeoutMs; then events$ completes.
 * A whole shutdown therefore takes at most leaveTimeoutMs + LEAVE_GRACE_MS +
 * shutdownCloseTimeoutMs (lan: 5 s + 0.5 s + 5 s; local: 2 s + 0.5 s + 5 s).
 * While a signal-started shutdown runs, a second same signal exits the process with code 1
 * (forceExitOnSecondSignal).
 */
@Injectable()
export class ShoalLifecycle implements OnApplicationBootstrap, OnModuleDestroy, BeforeApplicationShutdown, OnApplicationShutdown {
  private phaseValue: ShoalPhase = 'starting';
  private readonly log: ShoalLog;
  private forceExitListener: { signal: string; fn: () => void } | undefined;

  constructor(
    @Inject(SHOAL_RUNTIME) private readonly runtime: NodeRuntime,
    @Inject(SHOAL_OPTIONS) private readonly options: ResolvedShoalOptions,
    private readonly bus: ShoalEventBus,
  ) {
    this.log = shoalLog(options.logger);
  }

  get phase(): ShoalPhase {
    return this.phaseValue;
  }

  get shuttingDown(): boolean {
    return this.phaseValue === 'shutting-down' || this.phaseValue === 'stopped';
  }

  onApplicationBootstrap(): void {
    if (this.phaseValue === 'starting') this.phaseValue = 'running';
    // Handlers found by the explorer subscribed in onModuleInit; start delivering.
    this.bus.open();
  }

  onModuleDestroy(): void {
    this.phaseValue = 'shutting-down';
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    this.phaseValue = 'shutting-down';
    if (signal && this.options.forceExitOnSecondSignal && !this.forceExitListener) {
      const fn = (): void => {
        this.log.error({ signal }, 'second signal during graceful shutdown: exiting now');
        process.exit(1);
      };
      this.forceExitListener = { signal, fn };
      process.once(signal, fn);
    }
    if (!this.options.leaveOnShutdown || !this.runtime.running) return;
    const bound = this.runtime.config.leaveTimeoutMs + LEAVE_GRACE_MS;
    const t0 = Date.now();
    const finished = await withTimeout(this.runtime.leave(), bound).catch((e: unknown) => {
      this.log.warn({ err: e }, 'leave failed');
      return true;
    });
    if (!finished) this.log.warn({ waitedMs: Date.now() - t0 }, 'leave did not finish in time; stopping anyway');
  }

  async onApplicationShutdown(): Promise<void> {
    this.phaseValue = 'shutting-down';
    try {
      const finished = await withTimeout(this.runtime.stop(), this.options.shutdownCloseTimeoutMs);
      if (!finished) this.log.warn({ timeoutMs: this.options.shutdownCloseTimeoutMs }, 'runtime did not stop in time');
    } catch (e) {
      this.log.error({ err: e }, 'runtime stop failed');
    } finally {
      this.phaseValue = 'stopped';
      this.bus.close();
      if (this.forceExitListener) process.off(this.forceExitListener.signal, this.forceExitListener.fn);
      this.forceExitListener = undefined;
    }
  }
}

/** Resolves true when `p` settled in time, false when `ms` passed first; rejects when p rejects in time. */
async function withTimeout(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
