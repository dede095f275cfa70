import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { GatehouseAgent } from '@gatehouse/sdk';
import { approvedText, errorText, grantsText, pendingText, requestText } from './format';

type ToolResult = { content: { type: 'text'; text: string }[]; isError?: boolean };

const text = (value: string, isError = false): ToolResult => ({ content: [{ type: 'text', text: value }], ...(isError ? { isError } : {}) });

async function run(work: () => Promise<string>): Promise<ToolResult> {
  try {
    return text(await work());
  } catch (error) {
    return text(errorText(error), true);
  }
}

/** Registers the four Gatehouse tools on `server`, acting as `agent`. */
export function registerTools(server: McpServer, agent: GatehouseAgent, clock: () => Date = () => new Date()): void {
  server.registerTool(
    'request_access',
    {
      title: 'Request data access',
      description:
        'Ask Gatehouse for just-in-time access to a resource (e.g. crm.customers). Ask only for the columns and the time the task needs. ' +
        'Returns APPROVED with a token, PENDING (a person must approve: then call check_access_request) or DENIED with the reason.',
      inputSchema: {
        resource: z.string().min(1).describe('Resource id, e.g. crm.customers'),
        actions: z.array(z.string().min(1)).min(1).default(['read']).describe('Actions, e.g. ["read"]'),
        columns: z.array(z.string().min(1)).optional().describe('Columns needed; omit for all columns (more sensitive, less likely approved)'),
        duration: z.string().default('15m').describe('How long: 90s, 15m, 1h or ISO 8601'),
        reason: z.string().min(1).describe('Why the task needs it (shown to approvers and audited)'),
        on_behalf_of: z.string().optional().describe('Id or email of the user the agent works for'),
      },
    },
    (args) =>
      run(async () => {
        const result = await agent.requestAccess({
          resource: args.resource,
          actions: args.actions,
          columns: args.columns,
          duration: args.duration,
          reason: args.reason,
          onBehalfOf: args.on_behalf_of,
        });
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
    (args) => run(async () => requestText(await agent.getRequest(args.request_id, { waitSeconds: args.wait_seconds }), clock())),
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
}
