import { Injectable } from '@nestjs/common';
import { AccessError, AccessErrorCode, formatDuration } from '@gatehouse/domain';
import { Database } from '../../db/database';
import { AccessRequestRow, AccessRequestsRepository, ReviewState } from '../../db/access-requests.repository';
import { AgentsRepository } from '../../db/agents.repository';
import { GrantRow, GrantsRepository } from '../../db/grants.repository';
import { decodeCursor, encodeCursor } from '../../db/pagination';
import { AccessRequestPresenter, AccessRequestView, operationsOf } from '../access-request.view';
import { GrantSummary, grantSummary, Page } from './admin-queries';

/** A break-glass access as reviewers see it: the request, and when, who, what and why at a glance. */
export interface ReviewItem extends Omit<AccessRequestView, 'grant'> {
  grant?: GrantSummary;
  review: {
    status: ReviewState;
    /** When the agent broke glass. */
    at: string;
    agent: { id: string; name: string };
    onBehalfOf: string | null;
    resource: string;
    actions: string[];
    columns: string[];
    operations?: string[];
    /** What was granted (break-glass clamps it to breakGlass.maxDuration). */
    duration: string;
    reason: string;
    acknowledgedAt?: string;
    acknowledgedBy?: string;
    comment?: string;
  };
}

/** The reviews list: break-glass accesses waiting for a person (open), or already acknowledged. */
@Injectable()
export class BreakGlassReviews {
  constructor(
    private readonly db: Database,
    private readonly requests: AccessRequestsRepository,
    private readonly grants: GrantsRepository,
    private readonly agents: AgentsRepository,
    private readonly presenter: AccessRequestPresenter,
  ) {}

  async list(filter: { status: ReviewState; limit: number; cursor?: string }, now: Date): Promise<Page<ReviewItem>> {
    const after = filter.cursor ? decodeCursor(filter.cursor) : undefined;
    const rows = await this.requests.listForReview(this.db.client, { review: filter.status, after, limit: filter.limit });
    const items = await this.render(rows, now);
    return { items, ...(rows.length === filter.limit ? { nextCursor: encodeCursor(rows[rows.length - 1]) } : {}) };
  }

  /** One request as a review item (after it was acknowledged). */
  async item(id: string, now: Date): Promise<ReviewItem> {
    const row = await this.requests.findById(this.db.client, id);
    if (!row) throw new AccessError(AccessErrorCode.REQUEST_NOT_FOUND, `No access request ${id}.`);
    return (await this.render([row], now))[0];
  }

  private async render(rows: AccessRequestRow[], now: Date): Promise<ReviewItem[]> {
    const ids = rows.map((r) => r.id);
    const [grants, agents] = await Promise.all([
      this.grants.findByRequestIds(this.db.pool, ids),
      this.agents.namesOf(this.db.client, [...new Set(rows.map((r) => r.agentId))]),
    ]);
    const grantOf = new Map(grants.map((g) => [g.requestId, g]));
    const nameOf = new Map(agents.map((a) => [a.id, a.name]));
    return Promise.all(
      rows.map(async (row) => {
        // Lists never carry tokens: the request is rendered without its grant, then the grant's summary added.
        const { grant: _none, ...view } = await this.presenter.request(row, null, 0, now);
        const grant: GrantRow | undefined = grantOf.get(row.id);
        return { ...view, ...(grant ? { grant: grantSummary(grant, now) } : {}), review: reviewOf(row, nameOf.get(row.agentId) ?? '') };
      }),
    );
  }
}

function reviewOf(row: AccessRequestRow, agentName: string): ReviewItem['review'] {
  return {
    status: row.review ?? 'open',
    at: row.createdAt.toISOString(),
    agent: { id: row.agentId, name: agentName },
    onBehalfOf: row.onBehalfOf,
    resource: row.resource,
    actions: row.actions,
    columns: row.columns,
    ...operationsOf(row),
    duration: formatDuration(row.decision.durationSeconds),
    reason: row.reason,
    ...(row.reviewedAt && {
      acknowledgedAt: row.reviewedAt.toISOString(),
      acknowledgedBy: row.reviewedBy ?? '',
      comment: row.reviewComment ?? '',
    }),
  };
}
