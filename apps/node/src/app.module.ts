import { Module, type DynamicModule } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ShoalModule } from '@shoal/nest';
import type { TlsMaterial } from '@shoal/transport-quic';
import { ADMIN_CONTROLLERS } from './admin/routes.js';
import { NODE_CONTEXT, type NodeContext } from './context.js';
import { formatHostPort } from './address.js';
import { SHUTDOWN_CLOSE_ALLOWANCE_MS } from './flags.js';
import { MemberLogService } from './member-log.service.js';
import { SeedJoinerService } from './seed-joiner.service.js';

export interface AppModuleOptions {
  ctx: NodeContext;
  tls: TlsMaterial;
  /** "host:port" to advertise (a resolved IP), or undefined for the bound address. */
  advertise: string | undefined;
}

/** The node application: ShoalModule plus the admin API, the member log and the seed joiner. */
@Module({})
export class AppModule {
  static register({ ctx, tls, advertise }: AppModuleOptions): DynamicModule {
    const s = ctx.settings;
    return {
      module: AppModule,
      imports: [
        ShoalModule.forRoot({
          id: ctx.id,
          cluster: s.cluster,
          bindHost: s.bindHost,
          bindPort: s.bindPort,
          advertise,
          // Seeds go through the SeedJoiner (DNS names resolved on every retry), not straight to the runtime.
          seeds: [],
          tags: { ...s.tags },
          preset: s.preset,
          tls: { caPem: tls.caPem, certPem: tls.certPem, keyPem: tls.keyPem },
          leaveOnShutdown: true,
          shutdownCloseTimeoutMs: SHUTDOWN_CLOSE_ALLOWANCE_MS,
          // The app handles signals itself (exit 0 after a clean leave; a second signal forces exit).
          forceExitOnSecondSignal: false,
          // The root logger: the transport and the module add their own `node`/`component` fields.
          logger: ctx.rootLog,
        }),
        TerminusModule.forRoot({ logger: false }),
      ],
      controllers: ADMIN_CONTROLLERS,
      providers: [{ provide: NODE_CONTEXT, useValue: ctx }, MemberLogService, SeedJoinerService],
    };
  }
}

