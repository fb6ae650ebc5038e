/**
 * A Nest application with ShoalModule: `npx nx serve example-nest-app`, then a second
 * node joining it from another terminal (the banner prints the command).
 */
import 'reflect-metadata';
import { ClusterMembership } from '@shoal/nest';
import { pino } from 'pino';
import { createApp } from './app.js';
import { settingsFromEnv, SettingsError } from './settings.js';

async function main(): Promise<void> {
  let settings;
  try {
    settings = settingsFromEnv();
  } catch (e) {
    if (e instanceof SettingsError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const logger = pino();
  const app = await createApp(settings, logger);
  await app.listen(settings.httpPort, settings.httpHost);
  const membership = app.get(ClusterMembership);
  const url = await app.getUrl();
  logger.info({ id: membership.id, gossip: membership.address, admin: url }, 'example node started');
  process.stderr.write(
    `\nnode ${membership.id} gossips on ${membership.address}; admin ${url} (/members, /health/ready, /metrics)\n` +
      `second node: SHOAL_ID=example-2 SHOAL_SEEDS=${membership.address} HTTP_PORT=0 node examples/nest-app/dist/main.js\n\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`example failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
