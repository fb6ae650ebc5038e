import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Logger } from 'pino';
import { AppModule } from './app.module.js';
import type { ExampleSettings } from './settings.js';

/**
 * Creates the example application (not yet listening). Shutdown hooks are on: SIGTERM or
 * SIGINT make the node leave the cluster before the process exits.
 */
export async function createApp(settings: ExampleSettings, logger: Logger): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule.register(settings, logger), { logger: ['error', 'warn'], abortOnError: false });
  // useProcessExit: exit 0 after a clean shutdown (and let pino flush) instead of re-raising the signal.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  return app;
}
