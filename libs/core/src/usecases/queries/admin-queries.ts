import { Injectable } from '@nestjs/common';
import { AccessError, AccessErrorCode, effectiveGrantStatus, GrantStatus } from '@gatehouse/domain';
import { Database } from '../../db/database';
import { AccessRequestsRepository } from '../../db/access-requests.repository';
import { AgentsRepository } from '../../db/agents.repository';
import { AuditEventRow, AuditEventsRepository } from '../../db/audit-events.repository';
import { GrantRow, GrantsRepository } from '../../db/grants.repository';
import { UsersRepository } from '../../db/users.repository';
import { decodeCursor, decodeUuidCursor, encodeCursor } from '../../db/pagination';
import { AccessRequestPresenter, AccessRequestView, operationsOf } from '../access-request.view';
import { AgentView, agentView } from '../agents/agent.view';
import { ExtensionChain } from './extension-chain';
import { UserView, userView } from '../users/upsert-user';

/** A page of items and where the next one starts (absent on the last page). */
export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

/** A grant in admin lists: never the token. */
export interface GrantSummary {
  id: string;
  requestId: string;
  agentId: string;
  subject: string;
  status: GrantStatus;
  resource: string;
  audience: string;
  actions: string[];
  columns: string[];
  operations?: string[];
  issuedAt: string;
  expiresAt: string;
  endedAt: string | null;
  endedBy: string | null;
  endReason: string | null;
}

/** An audit event as the API shows it. */
export interface AuditEventView {
  id: string;
  seq: string | null;
  type: string;
  actor: string;
  sourceIp: string | null;
  requestId: string | null;
  grantId: string | null;
  agentId: string | null;
  data: unknown;
  createdAt: string;
  hash: string | null;
}

export const auditEventView = (e: AuditEventRow): AuditEventView => ({
  id: e.id.toString(),
  seq: e.seq?.toString() ?? null,
  type: e.type,
  actor: e.actor,
  sourceIp: e.sourceIp,
  requestId: e.requestId,
  grantId: e.grantId,
  agentId: e.agentId,
  data: e.data,
  createdAt: e.createdAt.toISOString(),
  hash: e.hash,
});

/** A grant as admin lists show it (never the token). */
export function grantSummary(g: GrantRow, now: Date): GrantSummary {
  return {
    id: g.id,
    requestId: g.requestId,
    agentId: g.agentId,
    subject: g.subject,
    status: effectiveGrantStatus(g, now),
    resource: g.resource,
    audience: g.audience,
    actions: g.actions,
    columns: g.columns,
    ...operationsOf(g),
    issuedAt: g.issuedAt.toISOString(),
    expiresAt: g.expiresAt.toISOString(),
    endedAt: g.endedAt?.toISOString() ?? null,
    endedBy: g.endedBy,
    endReason: g.endReason,
  };
}

function page<R, T>(rows: R[], limit: number, render: (r: R) => T, cursorOf: (r: R) => string): Page<T> {
  return { items: rows.map(render), ...(rows.length === limit ? { nextCursor: cursorOf(rows[rows.length - 1]) } : {}) };
}

/** The admin API's reads: lists with keyset cursors and a request's full story. */
@Injectable()
export class AdminQueries {
  constructor(
    private readonly db: Database,
    private readonly requests: AccessRequestsRepository,
    private readonly grants: GrantsRepository,
    private readonly agents: AgentsRepository,
    private readonly users: UsersRepository,
    private readonly audit: AuditEventsRepository,
    private readonly presenter: AccessRequestPresenter,
    private readonly chains: ExtensionChain,
  ) {}

  async listRequests(
    filter: { status?: string; agentId?: string; resource?: string; limit: number; cursor?: string },
    now: Date,
  ): Promise<Page<AccessRequestView>> {
    const rows = await this.requests.listForAdmin(this.db.pool, { ...filter, after: filter.cursor ? decodeCursor(filter.cursor) : undefined });
    const ids = rows.map((r) => r.id);
    const [grants, counts] = await Promise.all([this.grants.findByRequestIds(this.db.pool, ids), this.requests.countApprovals(this.db.pool, ids)]);
    const grantOf = new Map(grants.map((g) => [g.requestId, g]));
    // Admin lists never carry tokens: render grants without signing.
    const items = await Promise.all(
      rows.map(async (r) => {
        const view = await this.presenter.request(r, null, counts.get(r.id) ?? 0, now);
        const g = grantOf.get(r.id);
        return g ? { ...view, grant: { ...grantSummary(g, now) } } : view;
      }),
    );
    return { items, ...(rows.length === filter.limit ? { nextCursor: encodeCursor(rows[rows.length - 1]) } : {}) };
  }

  /** A request with its decision explained, its approvals and every audit event about it. */
  async requestDetail(id: string, now: Date) {
    const row = await this.requests.findById(this.db.client, id);
    if (!row) throw new AccessError(AccessErrorCode.REQUEST_NOT_FOUND, `No access request ${id}.`);
    const [grant, approvals, events] = await Promise.all([
      this.grants.findByRequestId(this.db.client, id),
      this.requests.listApprovals(this.db.client, id),
      this.audit.listForRequest(this.db.client, id),
    ]);
    const view = await this.presenter.request(row, null, approvals.length, now);
    const decision = row.decision;
    const chain = await this.chains.of(row, now);
    return {
      ...view,
      ...(grant ? { grant: grantSummary(grant, now) } : {}),
      // Requests that extend one another, first request first (this one alone when never extended).
      ...(chain.length > 1 ? { chain } : {}),
      explanation: {
        ...decision,
        requestedDuration: view.duration,
        grantedDurationSeconds: decision.durationSeconds,
        approvers: row.approverGroup,
        requiredApprovals: row.requiredApprovals,
        approvalExpiresAt: row.approvalExpiresAt?.toISOString() ?? null,
      },
      approvals: approvals.map((a) => ({
        approver: a.approver,
        columns: a.columns,
        ...operationsOf(a),
        durationSeconds: a.durationSeconds,
        comment: a.comment,
        at: a.createdAt.toISOString(),
      })),
      sourceIp: row.sourceIp,
      decisionComment: row.decisionComment,
      events: events.map(auditEventView),
    };
  }

  /** A grant with what the gateways saw it used for, per operation. */
  async grantDetail(id: string, now: Date) {
    const grant = await this.grants.findById(this.db.client, id);
    if (!grant) throw new AccessError(AccessErrorCode.GRANT_NOT_FOUND, `No grant ${id}.`);
    const usage = await this.grants.usageOf(this.db.client, id);
    return {
      ...grantSummary(grant, now),
      usage: usage.map((u) => ({ operation: u.operation, calls: Number(u.calls), firstAt: u.firstAt.toISOString(), lastAt: u.lastAt.toISOString() })),
    };
  }

  async listGrants(filter: { status?: string; agentId?: string; limit: number; cursor?: string }, now: Date): Promise<Page<GrantSummary>> {
    const rows = await this.grants.list(this.db.client, { ...filter, now, after: filter.cursor ? decodeCursor(filter.cursor) : undefined });
    return page(
      rows,
      filter.limit,
      (g) => grantSummary(g, now),
      (g) => encodeCursor({ createdAt: g.issuedAt, id: g.id }),
    );
  }

  async listAudit(filter: { requestId?: string; agentId?: string; type?: string; limit: number; cursor?: string }): Promise<Page<AuditEventView>> {
    const rows = await this.audit.page(this.db.client, { ...filter, after: filter.cursor ? BigInt(filter.cursor) : undefined });
    return page(rows, filter.limit, auditEventView, (e) => e.id.toString());
  }

  async listAgents(filter: { limit: number; cursor?: string }): Promise<Page<AgentView>> {
    const rows = await this.agents.list(this.db.client, { limit: filter.limit, after: filter.cursor ? decodeUuidCursor(filter.cursor) : undefined });
    return page(rows, filter.limit, agentView, (a) => a.id);
  }

  async getAgent(id: string): Promise<AgentView> {
    const row = await this.agents.findById(this.db.client, id);
    if (!row) throw new AccessError(AccessErrorCode.AGENT_NOT_FOUND, `No agent ${id}.`);
    return agentView(row);
  }

  async listUsers(filter: { limit: number; cursor?: string; group?: string }): Promise<Page<UserView>> {
    const rows = await this.users.list(this.db.client, { limit: filter.limit, after: filter.cursor, group: filter.group });
    return page(rows, filter.limit, userView, (u) => u.id);
  }
}
