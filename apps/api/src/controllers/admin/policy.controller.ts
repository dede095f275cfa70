import { Body, Get, HttpCode, Post } from '@nestjs/common';
import { ApiBody, ApiOperation } from '@nestjs/swagger';
import { EvaluatePolicy, evaluateBody, parseInput, PolicyStore } from '@gatehouse/core';
import { AdminController, bodySchema } from './admin-http';

/** The policy in force, and dry runs against it. */
@AdminController('policy')
export class PolicyController {
  constructor(
    private readonly policy: PolicyStore,
    private readonly evaluate: EvaluatePolicy,
  ) {}

  @Get()
  @ApiOperation({ summary: 'The policy in force: version, resources, rules, and the last reload error if any' })
  current() {
    const p = this.policy.current();
    return {
      version: p.version,
      source: p.source,
      sensitivity: p.sensitivity,
      defaults: p.defaults,
      resources: p.resources,
      rules: p.rules,
      lastReloadError: this.policy.lastError ?? null,
    };
  }

  @Post('evaluate')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Dry run: the decision an access request would get (with `extends: {used}`, as an extension whose chain has run that long); nothing stored',
  })
  @ApiBody(bodySchema(evaluateBody))
  dryRun(@Body() body: unknown) {
    const { agentId, sourceIp, at, extends: extending, ...request } = parseInput(evaluateBody, body);
    return this.evaluate.execute({ body: request, agentId, sourceIp, now: at ? new Date(at) : new Date(), extendsUsed: extending?.used });
  }
}
