import { Body, Controller, Get, Headers, HttpCode, Post, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { AdminAuthenticator, bearerToken, CheckCall, Config, Introspector, parseInput, PolicyStore } from '@gatehouse/core';

// The OpenID AuthZEN Authorization API 1.0 (evaluation endpoints and discovery), answering with the
// same decision as forward-auth. The grant token is the subject's proof: `subject.properties.token`.

const entity = z.object({
  type: z.string().min(1).max(100),
  id: z.string().min(1).max(8192),
  properties: z.record(z.string(), z.unknown()).optional(),
});
const action = z.object({ name: z.string().min(1).max(100), properties: z.record(z.string(), z.unknown()).optional() });
const context = z.record(z.string(), z.unknown());

const evaluation = z.object({ subject: entity, resource: entity, action, context: context.optional() });
type Evaluation = z.infer<typeof evaluation>;

const partial = z.object({ subject: entity.optional(), resource: entity.optional(), action: action.optional(), context: context.optional() });
const evaluationsBody = partial.extend({
  evaluations: z.array(partial).max(100).optional(),
  options: z.object({ evaluations_semantic: z.enum(['execute_all', 'deny_on_first_deny', 'permit_on_first_permit']).optional() }).optional(),
});

/** HTTP calls: `http` (AuthZEN's API-gateway usage) and its aliases; everything else names a data resource. */
const HTTP_TYPES = new Set(['http', 'http_request', 'route', 'gatehouse_http']);

interface Answer {
  decision: boolean;
  context: Record<string, unknown>;
}

function deny(error: AccessError, extra: Record<string, unknown> = {}): Answer {
  return { decision: false, context: { code: error.code, reason: error.message, ...extra } };
}

/** Where the call goes: an absolute URL in resource.id, or `host` and `path` (or `uri`) in its properties. */
function httpTarget(resource: Evaluation['resource']): { host: string; uri: string } | undefined {
  const props = resource.properties ?? {};
  const host = typeof props.host === 'string' ? props.host : undefined;
  const path = typeof props.path === 'string' ? props.path : typeof props.uri === 'string' ? props.uri : undefined;
  if (host && path) return { host, uri: path };
  try {
    const url = new URL(resource.id);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    return { host: url.host, uri: `${url.pathname}${url.search}` };
  } catch {
    return undefined;
  }
}

@ApiTags('authzen')
@Controller()
export class AuthzenController {
  constructor(
    private readonly config: Config,
    private readonly auth: AdminAuthenticator,
    private readonly check: CheckCall,
    private readonly policy: PolicyStore,
  ) {}

  @Get('.well-known/authzen-configuration')
  @ApiOperation({ summary: 'AuthZEN policy decision point metadata' })
  discovery() {
    const issuer = this.config.issuer;
    return {
      policy_decision_point: issuer,
      access_evaluation_endpoint: `${issuer}/access/v1/evaluation`,
      access_evaluations_endpoint: `${issuer}/access/v1/evaluations`,
    };
  }

  @Post('access/v1/evaluation')
  @HttpCode(200)
  @ApiOperation({
    summary: 'AuthZEN evaluation: may this subject (proven by subject.properties.token, a grant token) do this action on this resource?',
  })
  async evaluate(
    @Headers('authorization') authorization: string | undefined,
    @Headers('x-request-id') requestId: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Body() body: unknown,
  ): Promise<Answer> {
    const client = this.auth.enforcementPoint(bearerToken(authorization));
    echoRequestId(reply, requestId);
    return this.decide(parseInput(evaluation, body), client);
  }

  @Post('access/v1/evaluations')
  @HttpCode(200)
  @ApiOperation({ summary: 'AuthZEN evaluations: many at once, top-level subject/action/resource/context as defaults' })
  async evaluateMany(
    @Headers('authorization') authorization: string | undefined,
    @Headers('x-request-id') requestId: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Body() body: unknown,
  ): Promise<Answer | { evaluations: Answer[] }> {
    const client = this.auth.enforcementPoint(bearerToken(authorization));
    echoRequestId(reply, requestId);
    const input = parseInput(evaluationsBody, body);
    const { evaluations, options, ...defaults } = input;
    if (!evaluations || evaluations.length === 0) return this.decide(parseInput(evaluation, defaults), client);
    const semantic = options?.evaluations_semantic ?? 'execute_all';
    const answers: Answer[] = [];
    for (const [i, item] of evaluations.entries()) {
      const merged = evaluation.safeParse({ ...defaults, ...item });
      const answer = merged.success
        ? await this.decide(merged.data, client)
        : deny(
            new AccessError(
              AccessErrorCode.VALIDATION_FAILED,
              `evaluations[${i}] lacks ${merged.error.issues.map((issue) => issue.path.join('.')).join(', ')}`,
            ),
          );
      answers.push(answer);
      if ((semantic === 'deny_on_first_deny' && !answer.decision) || (semantic === 'permit_on_first_permit' && answer.decision)) break;
    }
    return { evaluations: answers };
  }

  private async decide(request: Evaluation, client: Introspector): Promise<Answer> {
    const token = typeof request.subject.properties?.token === 'string' ? request.subject.properties.token : undefined;
    const now = new Date();
    if (HTTP_TYPES.has(request.resource.type)) {
      const target = httpTarget(request.resource);
      if (!target) {
        return deny(
          new AccessError(AccessErrorCode.VALIDATION_FAILED, 'An http resource needs an absolute URL as its id, or host and path in its properties.'),
        );
      }
      const method = typeof request.action.properties?.method === 'string' ? request.action.properties.method : request.action.name;
      const verdict = await this.check.call({ method, ...target, token, gateway: undefined, sourceIp: null, now });
      if (!verdict.allowed) return deny(verdict.error, verdict.needed ? { needed: verdict.needed } : {});
      const refusal = this.refusal(request, client, verdict, this.policy.current().resources[verdict.resource]?.audience);
      if (refusal) return refusal;
      return {
        decision: true,
        context: { grant: verdict.grantId, agent: verdict.agentId, user: verdict.subject, resource: verdict.resource, operation: verdict.operation },
      };
    }
    // Any other type (gatehouse_data, or the resource's own kind) names a data resource by its id.
    const resourceId = request.resource.id;
    const columns = Array.isArray(request.resource.properties?.columns) ? request.resource.properties.columns.map(String) : undefined;
    const verdict = await this.check.data({ resource: resourceId, action: request.action.name, columns, token, client: client.name, now });
    if (!verdict.allowed) return deny(verdict.error);
    const refusal = this.refusal(request, client, verdict.holder, this.policy.current().resources[resourceId]?.audience ?? resourceId);
    if (refusal) return refusal;
    return {
      decision: true,
      context: { grant: verdict.holder.grantId, agent: verdict.holder.agentId, user: verdict.holder.subject, resource: resourceId },
    };
  }

  /** A subject id that is not the token's agent or user, or an audience the client may not ask about, turns an allow into a deny. */
  private refusal(
    request: Evaluation,
    client: Introspector,
    holder: { agentId: string; subject: string },
    audience: string | undefined,
  ): Answer | undefined {
    const subject = request.subject.id;
    if (subject !== holder.agentId && subject !== holder.subject) {
      return deny(new AccessError(AccessErrorCode.NOT_GRANTED, `The token was issued to agent ${holder.agentId}, not to subject ${subject}.`));
    }
    if (client.audiences && (audience === undefined || !client.audiences.has(audience))) {
      return deny(new AccessError(AccessErrorCode.NOT_GRANTED, `This client may not ask about audience ${audience}.`));
    }
    return undefined;
  }
}

function echoRequestId(reply: FastifyReply, requestId: string | undefined): void {
  if (requestId && /^[\w.-]{1,100}$/.test(requestId)) void reply.header('x-request-id', requestId);
}
