import { Injectable } from '@nestjs/common';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { Database } from '../../db/database';
import { AccessRequestRow, AccessRequestsRepository } from '../../db/access-requests.repository';
import { AuditEventsRepository } from '../../db/audit-events.repository';
import { actorName, Origin } from '../actor';
import { BreakGlassReviews, ReviewItem } from '../queries/break-glass-reviews';

/** An admin acknowledging a break-glass access. */
export interface AcknowledgeInput {
  requestId: string;
  by: Origin;
  comment: string;
  now: Date;
}

/** Why a request has no open review, for the 409. */
function notOpen(row: AccessRequestRow): string {
  if (row.review === 'acknowledged') {
    return `Access request ${row.id} was already acknowledged by ${row.reviewedBy} at ${row.reviewedAt?.toISOString()}.`;
  }
  if (row.breakGlass)
    return `Access request ${row.id} was sent as break-glass but ${row.status}: nothing was granted, so there is nothing to review.`;
  return `Access request ${row.id} is not a break-glass request; only break-glass accesses wait for review.`;
}

/**
 * Closes the review of a break-glass access: a person has looked at it and says what they found.
 * A conditional write with its audit event, in one transaction; a second acknowledgement is a 409.
 */
@Injectable()
export class AcknowledgeBreakGlass {
  constructor(
    private readonly db: Database,
    private readonly requests: AccessRequestsRepository,
    private readonly audit: AuditEventsRepository,
    private readonly reviews: BreakGlassReviews,
  ) {}

  async execute(input: AcknowledgeInput): Promise<ReviewItem> {
    const actor = actorName(input.by.actor);
    await this.db.transaction(async (tx) => {
      const row = await this.requests.findById(tx, input.requestId);
      if (!row) throw new AccessError(AccessErrorCode.REQUEST_NOT_FOUND, `No access request ${input.requestId}.`);
      const acknowledged = await this.requests.acknowledgeReview(tx, row.id, actor, input.now, input.comment);
      if (acknowledged === 0) {
        // Someone may have acknowledged it between the read and the write: say what is true now.
        const now = (await this.requests.findById(tx, row.id)) ?? row;
        throw new AccessError(AccessErrorCode.NOT_AWAITING_REVIEW, notOpen(now));
      }
      await this.audit.append(tx, [
        {
          type: 'access_request.acknowledged',
          actor,
          sourceIp: input.by.sourceIp,
          requestId: row.id,
          agentId: row.agentId,
          data: { comment: input.comment, breakGlassAt: row.createdAt.toISOString() },
        },
      ]);
    });
    return this.reviews.item(input.requestId, input.now);
  }
}
