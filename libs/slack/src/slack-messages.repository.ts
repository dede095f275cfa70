import { Injectable } from '@nestjs/common';
import { Database } from '@gatehouse/core';

/**
 * Where Slack shows a request: the approvals channel message, the direct message to the user acted
 * for when they approve, and the direct message asking for their consent.
 */
export type SlackMessageKind = 'approvals' | 'requester' | 'consent';

/** A posted message's coordinates, enough to edit it and reply in its thread. */
export interface SlackMessageRef {
  channel: string;
  ts: string;
}

/** Slack's own state, in its own table (slack_messages): nothing of it lives on the request. */
@Injectable()
export class SlackMessagesRepository {
  constructor(private readonly db: Database) {}

  async forRequest(requestId: string): Promise<Partial<Record<SlackMessageKind, SlackMessageRef>>> {
    const rows = await this.db.client.slackMessage.findMany({ where: { requestId } });
    return Object.fromEntries(rows.map((r) => [r.kind, { channel: r.channel, ts: r.ts }]));
  }

  /**
   * Stores where a message was posted, once per kind: a retried post job then finds it and edits
   * instead of posting twice. Returns false when one was already stored.
   */
  async record(requestId: string, kind: SlackMessageKind, ref: SlackMessageRef): Promise<boolean> {
    const { count } = await this.db.client.slackMessage.createMany({ data: [{ requestId, kind, ...ref }], skipDuplicates: true });
    return count === 1;
  }

  /**
   * Pending requests older than `before` that Slack should show but does not: approver-stage ones
   * without their channel message, and ones waiting for consent without their direct message.
   */
  async findUnposted(before: Date, limit: number): Promise<{ id: string; kind: 'approvals' | 'consent' }[]> {
    return this.db.client.$queryRaw<{ id: string; kind: 'approvals' | 'consent' }[]>`
      SELECT r.id::text AS id, CASE WHEN r.consent = 'pending' THEN 'consent' ELSE 'approvals' END AS kind
        FROM access_requests r
       WHERE r.status = 'pending' AND r.created_at < ${before}
         AND NOT EXISTS (
           SELECT 1 FROM slack_messages m
            WHERE m.request_id = r.id AND m.kind = CASE WHEN r.consent = 'pending' THEN 'consent' ELSE 'approvals' END)
       ORDER BY r.created_at
       LIMIT ${limit}`;
  }
}
