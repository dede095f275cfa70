import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { Database, Metrics, RedisService } from '@gatehouse/core';

/** Liveness, readiness (Postgres and Redis) and Prometheus metrics. */
@ApiTags('operations')
@Controller()
export class OpsController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    private readonly db: Database,
    private readonly redis: RedisService,
    private readonly metrics: Metrics,
  ) {}

  @Get('health/live')
  live() {
    return { status: 'ok' };
  }

  @Get('health/ready')
  @HealthCheck()
  ready() {
    return this.health.check([
      () => this.probe('postgres', () => this.db.ping()),
      () => this.probe('redis', () => this.redis.ping()),
    ]);
  }

  @Get('metrics')
  @ApiExcludeEndpoint()
  @Header('Content-Type', 'text/plain; version=0.0.4')
  scrape() {
    return this.metrics.registry.metrics();
  }

  private async probe(key: string, check: () => Promise<void>) {
    const indicator = this.indicator.check(key);
    try {
      await withTimeout(check(), 2000);
      return indicator.up();
    } catch (error) {
      return indicator.down({ message: (error as Error).message });
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms).unref())]);
}
