import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { Availability, Metrics, ProcessLifecycle } from '@gatehouse/core';

/** Liveness, readiness (Postgres and Redis) and Prometheus metrics. */
@ApiTags('operations')
@Controller()
export class OpsController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    private readonly availability: Availability,
    private readonly lifecycle: ProcessLifecycle,
    private readonly metrics: Metrics,
  ) {}

  /** Up while the process runs, whatever its dependencies do: restarting it would not bring them back. */
  @Get('health/live')
  live() {
    return { status: 'ok' };
  }

  @Get('health/ready')
  @HealthCheck()
  @ApiOperation({ summary: '200 when Postgres and Redis answer; 503 UNAVAILABLE naming the one down, or while shutting down' })
  async ready() {
    if (this.lifecycle.draining) {
      throw new AccessError(AccessErrorCode.UNAVAILABLE, 'This instance is shutting down; send traffic to another.', [
        { path: 'gatehouse', message: 'shutting down' },
      ]);
    }
    // One probe of both (Availability also learns from it); terminus shapes the answer.
    const down = await this.availability.check();
    return this.health.check(
      (['postgres', 'redis'] as const).map((dependency) => () => {
        const indicator = this.indicator.check(dependency);
        const reason = down.get(dependency);
        return reason === undefined ? indicator.up() : indicator.down({ message: reason });
      }),
    );
  }

  @Get('metrics')
  @ApiExcludeEndpoint()
  @Header('Content-Type', 'text/plain; version=0.0.4')
  scrape() {
    return this.metrics.registry.metrics();
  }
}
