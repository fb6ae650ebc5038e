import { BadRequestException, Controller, Get, Header, Query } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import type { MemberState } from '@shoal/core';
import { ClusterMembership, MemberQueryError, ShoalHealthIndicator, ShoalMetrics } from '@shoal/nest';

/** A small admin surface built from ShoalModule's providers. */
@Controller()
export class AdminController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly shoal: ShoalHealthIndicator,
    private readonly metricsService: ShoalMetrics,
    private readonly membership: ClusterMembership,
  ) {}

  @Get('health/live')
  @HealthCheck()
  live() {
    return this.health.check([() => this.shoal.isLive()]);
  }

  @Get('health/ready')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.shoal.isReady()]);
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  metrics(): Promise<string> {
    return this.metricsService.metrics();
  }

  /** GET /members?tag=role=api&state=alive (both repeatable). */
  @Get('members')
  members(@Query('tag') tag?: string | string[], @Query('state') state?: string | string[]) {
    try {
      return this.membership.members({ tags: tag, states: state as MemberState | MemberState[] | undefined });
    } catch (e) {
      if (e instanceof MemberQueryError) throw new BadRequestException(e.message);
      throw e;
    }
  }
}
