import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { ShoalHealthIndicator } from '@shoal/nest';
import { SeedJoinerService } from '../seed-joiner.service.js';

/**
 * GET /health/live  — 200 while the node runs (its protocol and socket are up), else 503.
 * GET /health/ready — 200 once joined (through the seeds, if any), with a local health
 *                     score under the threshold and not shutting down; else 503.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly shoal: ShoalHealthIndicator,
    private readonly seeds: SeedJoinerService,
  ) {}

  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([() => this.shoal.isLive('shoal')]);
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.shoal.isReady('shoal'), () => this.seeds.check('seeds')]);
  }
}
