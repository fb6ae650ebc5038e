import type { FactoryProvider } from '@nestjs/common';
import { NodeRuntime, type NodeRuntimeOptions } from '@shoal/transport-quic';
import { SHOAL_OPTIONS, SHOAL_RUNTIME } from './constants.js';
import { resolveShoalOptions, type ResolvedShoalOptions } from './options.js';
import { SHOAL_MODULE_OPTIONS } from './shoal.module-definition.js';

/** Validates the raw module options at bootstrap (throws ShoalOptionsError naming the key). */
export const shoalOptionsProvider: FactoryProvider<ResolvedShoalOptions> = {
  provide: SHOAL_OPTIONS,
  useFactory: (raw: unknown) => resolveShoalOptions(raw),
  inject: [SHOAL_MODULE_OPTIONS],
};

/** Starts the node (binds the socket, starts the protocol, joins the seeds in the background). */
export const shoalRuntimeProvider: FactoryProvider<Promise<NodeRuntime>> = {
  provide: SHOAL_RUNTIME,
  useFactory: async (opts: ResolvedShoalOptions) => {
    const runtimeOptions: NodeRuntimeOptions = {
      id: opts.id,
      cluster: opts.cluster,
      bindHost: opts.bindHost,
      bindPort: opts.bindPort,
      advertise: opts.advertise,
      seeds: opts.seeds,
      tags: opts.tags,
      preset: opts.preset,
      config: opts.configOverrides,
      tls: opts.tls,
      pool: opts.pool,
      endpoint: opts.endpoint as NodeRuntimeOptions['endpoint'],
      logger: opts.logger,
    };
    const runtime = await NodeRuntime.start(runtimeOptions);
    // An 'error' event without a listener would throw; the runtime already logged it.
    runtime.on('error', () => undefined);
    return runtime;
  },
  inject: [SHOAL_OPTIONS],
};
