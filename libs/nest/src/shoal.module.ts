import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ClusterMembership } from './cluster-membership.js';
import { SHOAL_OPTIONS, SHOAL_RUNTIME } from './constants.js';
import { ConnectionPool } from './connection-pool.js';
import { ShoalEventBus } from './event-bus.js';
import { Gossip } from './gossip.js';
import { HealthChecker } from './health-checker.js';
import { ShoalHealthIndicator } from './health.indicator.js';
import { ShoalLifecycle } from './lifecycle.js';
import { MemberEventExplorer } from './member-event.explorer.js';
import { ShoalMetrics } from './metrics.js';
import { Registry } from './registry.js';
import { shoalOptionsProvider, shoalRuntimeProvider } from './runtime.provider.js';
import { ShoalConfigurableModule } from './shoal.module-definition.js';
import { ShoalStatsReader } from './stats-reader.js';

/**
 * A Shoal cluster member inside a Nest application.
 *
 *   ShoalModule.forRoot({ id, cluster, seeds, tls, preset: 'lan', isGlobal: true })
 *   ShoalModule.forRootAsync({ imports: [ConfigModule], inject: [ConfigService], useFactory: (c) => ({ … }) })
 *
 * Options are validated at bootstrap (ShoalOptionsError names the key). The node starts
 * while the module initialises and joins its seeds in the background; call
 * app.enableShutdownHooks() so SIGTERM/SIGINT leave the cluster gracefully (ShoalLifecycle).
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    shoalOptionsProvider,
    shoalRuntimeProvider,
    ShoalStatsReader,
    ShoalEventBus,
    ShoalLifecycle,
    Registry,
    HealthChecker,
    Gossip,
    ConnectionPool,
    ClusterMembership,
    ShoalHealthIndicator,
    ShoalMetrics,
    MemberEventExplorer,
  ],
  exports: [SHOAL_RUNTIME, SHOAL_OPTIONS, Registry, HealthChecker, Gossip, ConnectionPool, ClusterMembership, ShoalHealthIndicator, ShoalMetrics],
})
export class ShoalModule extends ShoalConfigurableModule {}
