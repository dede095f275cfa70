import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { gatewayRefusal, type AccessRequest, type GatehouseAgent, type Grant, type NeededAccess } from '@gatehouse/sdk';
import { approvedText, errorText, extendedText, grantsText, httpResponseText, notDescribedText, pendingText, requestText } from './format';

type ToolResult = { content: { type: 'text'; text: string }[]; isError?: boolean };

const text = (value: string, isError = false): ToolResult => ({ content: [{ type: 'text', text: value }], ...(isError ? { isError } : {}) });

async function run(work: () => Promise<string>): Promise<ToolResult> {
  try {
    return text(await work());
  } catch (error) {
    return text(errorText(error), true);
  }
}

/**
 * The grants this server obtained, with their tokens, so that call_http_api can send the right one:
 * per host the one used last, else one whose resource and operations cover what the gateway needs.
 */
class HeldGrants {
  private readonly grants = new Map<string, Grant & { token: string }>();
  private readonly byHost = new Map<string, string>();

  hold(grant: Grant | undefined): void {
    if (grant?.token && grant.status === 'active') this.grants.set(grant.id, grant as Grant & { token: string });
  }

  holdFrom(request: AccessRequest): void {
    if (request.status !== 'approved') return;
    this.hold(request.grant);
    // An approved extension replaced the grant it extends: that token no longer works.
    if (request.extends) this.forget(request.extends);
  }

  forHost(host: string, now: Date): (Grant & { token: string }) | undefined {
    const id = this.byHost.get(host);
    const grant = id ? this.grants.get(id) : undefined;
    return grant && Date.parse(grant.expiresAt) > now.getTime() ? grant : undefined;
  }

  covering(needed: NeededAccess, now: Date): (Grant & { token: string }) | undefined {
    for (const grant of this.grants.values()) {
      const live = Date.parse(grant.expiresAt) > now.getTime();
      if (live && grant.resource === needed.resource && needed.operations.every((name) => grant.operations?.includes(name))) return grant;
    }
    return undefined;
  }

  usedFor(host: string, grant: Grant): void {
    this.byHost.set(host, grant.id);
  }

  forget(id: string): void {
    this.grants.delete(id);
  }
}

/** Registers the Gatehouse tools on `server`, acting as `agent`. */
/** The break-glass switch of the tools that ask for access: worded so a model uses it only in emergencies. */
const breakGlassArg = z
  .boolean()
  .optional()
  .describe(
    'EMERGENCIES ONLY (an incident that cannot wait for a person to approve): true grants at once, for a short capped time, ' +
      'what would otherwise wait for approvers, if the policy lets this agent break glass (never past a deny). ' +
      'People are alerted at once and must review every use afterwards. Never use it because an approval is slow or to skip a refusal.',
  );

export function registerTools(server: McpServer, agent: GatehouseAgent, clock: () => Date = () => new Date()): void {
  const held = new HeldGrants();
  server.registerTool(
    'request_access',
    {
      title: 'Request data access',
      description:
        'Ask Gatehouse for just-in-time access to a resource (e.g. crm.customers, or an HTTP API such as github.issues). Ask only for the columns (or operations) and the time the task needs. ' +
        'Returns APPROVED with a token, PENDING (a person must approve: then call check_access_request) or DENIED with the reason.',
      inputSchema: {
        resource: z.string().min(1).describe('Resource id, e.g. crm.customers'),
        actions: z.array(z.string().min(1)).min(1).default(['read']).describe('Actions, e.g. ["read"]'),
        columns: z.array(z.string().min(1)).optional().describe('Columns needed; omit for all columns (more sensitive, less likely approved)'),
        operations: z
          .array(z.string().min(1))
          .optional()
          .describe('For an HTTP API: the named operations needed (call_http_api asks for them by itself)'),
        duration: z.string().default('15m').describe('How long: 90s, 15m, 1h or ISO 8601'),
        reason: z.string().min(1).describe('Why the task needs it (shown to approvers and audited)'),
        on_behalf_of: z.string().optional().describe('Id or email of the user the agent works for'),
        break_glass: breakGlassArg,
      },
    },
    (args) =>
      run(async () => {
        const result = await agent.requestAccess({
          resource: args.resource,
          actions: args.actions,
          columns: args.columns,
          operations: args.operations,
          duration: args.duration,
          reason: args.reason,
          onBehalfOf: args.on_behalf_of,
          ...(args.break_glass && { breakGlass: true }),
        });
        held.holdFrom(result.request);
        return result.status === 'approved' ? approvedText(result.grant, result.request, clock()) : pendingText(result.request);
      }),
  );

  server.registerTool(
    'check_access_request',
    {
      title: 'Check an access request',
      description:
        'Look at a pending access request; waits up to wait_seconds (default 30, max 60) for a person to decide. Returns the token once approved.',
      inputSchema: {
        request_id: z.string().min(1),
        wait_seconds: z.number().int().min(0).max(60).default(30),
      },
    },
    (args) =>
      run(async () => {
        const request = await agent.getRequest(args.request_id, { waitSeconds: args.wait_seconds });
        held.holdFrom(request);
        return requestText(request, clock());
      }),
  );

  server.registerTool(
    'extend_access',
    {
      title: 'Extend a grant',
      description:
        'The task needs a live grant longer: ask Gatehouse to extend it by `duration` (a new request for the same access, decided by the policy). ' +
        'Returns EXTENDED with a new token (the old token stops working at once), PENDING (a person must approve: then call check_access_request; the old grant works meanwhile) or DENIED with the reason (e.g. the total time allowed is used up).',
      inputSchema: {
        grant_id: z.string().min(1).describe('The grant to extend (from request_access or list_my_grants)'),
        duration: z.string().default('15m').describe('How much longer, from now: 90s, 15m, 1h or ISO 8601'),
        reason: z.string().min(1).describe('Why the task needs more time (shown to approvers and audited)'),
      },
    },
    (args) =>
      run(async () => {
        const result = await agent.extend(args.grant_id, { duration: args.duration, reason: args.reason });
        held.holdFrom(result.request);
        return extendedText(result.request, clock());
      }),
  );

  server.registerTool(
    'release_access',
    {
      title: 'Release a grant',
      description: 'The task is done: end the grant now so its token stops working.',
      inputSchema: { grant_id: z.string().min(1) },
    },
    (args) =>
      run(async () => {
        const grant = await agent.release(args.grant_id);
        held.forget(grant.id);
        return `RELEASED: grant ${grant.id} (${grant.resource}) is ${grant.status}; its token no longer works.`;
      }),
  );

  server.registerTool(
    'list_my_grants',
    {
      title: 'List my grants',
      description: "This agent's active grants (without tokens): what they cover and until when.",
      inputSchema: {},
    },
    () => run(async () => grantsText(await agent.listGrants(), clock())),
  );

  server.registerTool(
    'call_http_api',
    {
      title: 'Call an HTTP API through its gateway',
      description:
        'Call an HTTP API that sits behind a Gatehouse gateway (e.g. https://github.egress.internal/repos/acme/app/issues). ' +
        'Sends the grant this server holds for it; when the gateway says what access is missing, asks Gatehouse for exactly that ' +
        '(with your reason) and calls again once approved. Returns the HTTP status and body, or PENDING when a person must approve first.',
      inputSchema: {
        method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
        url: z.url({ protocol: /^https?$/ }).describe('The full URL through the gateway'),
        body: z.string().max(100_000).optional().describe('Request body (JSON text for JSON APIs)'),
        content_type: z.string().max(200).default('application/json'),
        reason: z.string().min(1).describe('Why the task needs this call (shown to approvers and audited)'),
        duration: z.string().default('15m').describe('How long the access is needed, if it must be asked for'),
        on_behalf_of: z.string().optional().describe('Id or email of the user the agent works for'),
        break_glass: breakGlassArg,
      },
    },
    (args) =>
      run(async () => {
        const now = clock();
        const host = new URL(args.url).host;
        const init = (token: string | undefined): RequestInit => ({
          method: args.method,
          headers: {
            ...(args.body !== undefined ? { 'content-type': args.content_type } : {}),
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: args.body,
        });
        const send = async (grant: (Grant & { token: string }) | undefined) => {
          const response = await fetch(args.url, init(grant?.token));
          const refusal = await gatewayRefusal(response.clone());
          return { response, refusal, grant };
        };
        let attempt = await send(held.forHost(host, now));
        if (attempt.refusal?.needed) {
          const covering = held.covering(attempt.refusal.needed, now);
          if (covering) attempt = await send(covering);
        }
        if (attempt.refusal?.needed) {
          const result = await agent.requestAccess({
            ...attempt.refusal.needed,
            duration: args.duration,
            reason: args.reason,
            onBehalfOf: args.on_behalf_of,
          });
          held.holdFrom(result.request);
          if (result.status === 'pending') {
            return `${pendingText(result.request)}\nOnce it is approved, call call_http_api again with the same arguments.`;
          }
          attempt = await send(result.grant);
        }
        if (attempt.refusal && !attempt.refusal.needed) return notDescribedText(attempt.response.status, attempt.refusal.message);
        if (attempt.grant && !attempt.refusal) held.usedFor(host, attempt.grant);
        return httpResponseText(attempt.response.status, await attempt.response.text(), attempt.grant);
      }),
  );
}
