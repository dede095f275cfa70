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
  @ApiOperation({
    summary: 'The policy in force: version, resources, rules, breakGlass (null when absent), budgets, and the last reload error if any',
  })
  current() {
    const p = this.policy.current();
    return {
      version: p.version,
      source: p.source,
      sensitivity: p.sensitivity,
      defaults: p.defaults,
      resources: p.resources,
      rules: p.rules,
      breakGlass: p.breakGlass ?? null,
      budgets: p.budgets,
      lastReloadError: this.policy.lastError ?? null,
    };
  }

  @Post('evaluate')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Dry run: the decision an access request (breakGlass included; with `extends: {used}`, as an extension whose chain has run that long) would get, or the same refusal; nothing stored',
    description:
      "The same plan a submit runs, anomalies included (against the agent's baseline now); a dry run does not count towards the agent's minute. When policy budgets select the request, `budgets` lists each with the agent's usage counted now (the request included: `{limit, used, max, over}`), and the decision is the one they leave. A dry run takes no lock, so a submit a moment later may count differently.",
  })
  @ApiBody(bodySchema(evaluateBody))
  dryRun(@Body() body: unknown) {
    const { agentId, sourceIp, at, extends: extending, ...request } = parseInput(evaluateBody, body);
    return this.evaluate.execute({ body: request, agentId, sourceIp, now: at ? new Date(at) : new Date(), extendsUsed: extending?.used });
  }
}
