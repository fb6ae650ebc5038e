import { Module, type DynamicModule } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ShoalModule } from '@shoal/nest';
import { ensureDevCertificates } from '@shoal/transport-quic';
import type { Logger } from 'pino';
import { AdminController } from './admin.controller.js';
import { EXAMPLE_LOGGER, MemberLogger } from './member-logger.js';
import type { ExampleSettings } from './settings.js';

@Module({})
export class AppModule {
  static register(settings: ExampleSettings, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        TerminusModule,
        // forRootAsync: the certificates are loaded (made once, then reused) before the node starts.
        ShoalModule.forRootAsync({
          useFactory: async () => {
            const tls = await ensureDevCertificates(settings.dataDir, settings.id);
            return {
              id: settings.id,
              cluster: settings.cluster,
              bindHost: settings.bindHost,
              bindPort: settings.bindPort,
              seeds: settings.seeds,
              tags: settings.tags,
              preset: 'local' as const,
              tls: { caPem: tls.caPem, certPem: tls.certPem, keyPem: tls.keyPem },
              logger,
            };
          },
        }),
      ],
      controllers: [AdminController],
      providers: [{ provide: EXAMPLE_LOGGER, useValue: logger }, MemberLogger],
    };
  }
}
