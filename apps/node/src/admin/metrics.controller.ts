import { Controller, Get, Res } from '@nestjs/common';
import { ShoalMetrics } from '@shoal/nest';

/** GET /metrics — Prometheus text format. */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: ShoalMetrics) {}

  @Get()
  async get(@Res({ passthrough: true }) res: { setHeader(name: string, value: string): void }): Promise<string> {
    res.setHeader('Content-Type', this.metrics.contentType);
    return this.metrics.metrics();
  }
}
