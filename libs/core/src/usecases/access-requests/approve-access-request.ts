import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import {
  AccessError,
  AccessErrorCode,
  approvalComplete,
  clampToDelegation,
  delegationStatus,
  GrantedScope,
  narrowScope,
  parseDuration,
  requestTransition,
} from '@gatehouse/domain';
import { Database } from '../../db/database';
import { AccessRequestRow, AccessRequestsRepository, ApprovalRow } from '../../db/access-requests.repository';
import { Tx } from '../../db/prisma.service';
import { AuditEventsRepository } from '../../db/audit-events.repository';
import { DelegationsRepository } from '../../db/delegations.repository';
import { GrantRow } from '../../db/grants.repository';
import { AccessRequestView } from '../access-request.view';
import { GrantExtensions, Superseded } from '../grants/grant-extensions';
import { GrantIssuer } from '../grants/grant-issuer';
import { Decider, DecisionBy, relayOf } from './decider';
import { RequestEffects } from './request-effects';

/** An approval, possibly narrowing what was asked (fewer columns or operations, a shorter duration). */
export interface ApproveInput {
  requestId: string;
  by: DecisionBy;
  changes?: { columns?: string[]; operations?: string[]; duration?: string };
  comment?: string;
  now: Date;
}

/**
 * Records one person's approval; the request is approved once `required` distinct eligible people
 * approved (or an admin overrides). The request row is locked for the transaction, so concurrent
 * approvals count each other and exactly one of them issues the grant.
 */
@Injectable()
export class ApproveAccessRequest {
  constructor(
    private readonly db: Database,
    private readonly requests: AccessRequestsRepository,
    private readonly audit: AuditEventsRepository,
    private readonly delegations: DelegationsRepository,
    private readonly issuer: GrantIssuer,
    private readonly decider: Decider,
    private readonly effects: RequestEffects,
    private readonly extensions: GrantExtensions,
  ) {}

  async execute(input: ApproveInput): Promise<{ view: AccessRequestView; changed: boolean }> {
    const { by, now } = input;
    const changes = {
      columns: input.changes?.columns,
      operations: input.changes?.operations,
      durationSeconds: input.changes?.duration !== undefined ? parseDuration(input.changes.duration) : undefined,
    };
    let outcome: { event?: 'approval_received' | 'approved'; grant?: GrantRow; superseded?: Superseded };
    try {
      outcome = await this.db.transaction(async (tx) => {
        const request = await this.requests.findForDecision(tx, input.requestId);
        if (!request) throw new AccessError(AccessErrorCode.REQUEST_NOT_FOUND, `No access request ${input.requestId}.`);
        if (requestTransition(request.status, 'approved') === 'noop') return {};
        const { key, override } = await this.decider.authorize(tx, request, by, 'approve');
        const granted = { columns: request.columns, operations: request.operations, durationSeconds: request.decision.durationSeconds };
        const narrowed = narrowScope(granted, changes);
        const isNew = await this.requests.addApproval(tx, {
          id: randomUUID(),
          requestId: request.id,
          approver: key,
          columns: changes.columns ? narrowed.columns : [],
          operations: changes.operations ? narrowed.operations : [],
          durationSeconds: changes.durationSeconds ?? null,
          comment: input.comment ?? null,
        });
        if (!isNew) return {};
        const approvals = await this.requests.listApprovals(tx, request.id);
        const people = approvals.filter((a) => a.approver.startsWith('user:')).length;
        const base = { actor: key, sourceIp: by.sourceIp, requestId: request.id, agentId: request.agentId };
        if (!override && !approvalComplete(request.requiredApprovals, people)) {
          await this.audit.append(tx, [
            {
              ...base,
              type: 'request.approval_received',
              data: {
                ...relayOf(by),
                received: people,
                required: request.requiredApprovals,
                ...partsOf(narrowed),
                durationSeconds: narrowed.durationSeconds,
                comment: input.comment ?? null,
              },
            },
          ]);
          return { event: 'approval_received' as const };
        }
        const scope = intersect(granted, approvals);
        scope.durationSeconds = await this.withinDelegation(tx, request, scope.durationSeconds, now);
        // An extension: its grant stays within the chain's total and replaces the grant it extends.
        const extended = request.extendsGrantId ? await this.extensions.lockExtended(tx, request) : null;
        if (extended) scope.durationSeconds = this.extensions.withinChain(request, scope.durationSeconds, now);
        if ((await this.requests.decide(tx, request.id, 'approved', key, now, input.comment)) === 0) return {};
        const issued = await this.issuer.issue(tx, request, scope, now, key);
        const superseded = extended ? await this.extensions.supersede(tx, extended, issued.grant, key, now) : undefined;
        await this.audit.append(tx, [
          {
            ...base,
            type: 'request.approved',
            data: {
              ...relayOf(by),
              approvers: approvals.map((a) => a.approver),
              override,
              ...partsOf(scope),
              durationSeconds: scope.durationSeconds,
              comment: input.comment ?? null,
            },
          },
          issued.audit,
          ...(superseded?.audit ?? []),
        ]);
        return { event: 'approved' as const, grant: issued.grant, superseded };
      });
    } catch (error) {
      await this.decider.recordRefusal(input.requestId, by, 'approve', error);
      throw error;
    }
    const view = await this.effects.view(input.requestId, now);
    if (outcome.grant) await this.effects.grantIssued(outcome.grant);
    if (outcome.superseded) await this.extensions.announce(outcome.superseded);
    if (outcome.event) await this.effects.changed(input.requestId, outcome.event, view);
    return { view, changed: outcome.event !== undefined };
  }

  /**
   * The user acted for must still be proven when the grant is made: the delegation that proved them
   * must be live, and the grant ends when it does.
   */
  private async withinDelegation(tx: Tx, request: AccessRequestRow, durationSeconds: number, now: Date): Promise<number> {
    if (!request.delegationId) return durationSeconds;
    const delegation = await this.delegations.findById(tx, request.delegationId);
    const seconds = delegation && delegationStatus(delegation, now) === 'live' ? clampToDelegation(durationSeconds, delegation, now) : 0;
    if (seconds < 1) {
      throw new AccessError(
        AccessErrorCode.DELEGATION_REQUIRED,
        `The delegation that let this agent act for ${request.onBehalfOf} has ended; the request can no longer be approved. Deny it; the agent asks again once ${request.onBehalfOf} delegates again.`,
      );
    }
    return seconds;
  }
}

/** The grant gets what every approver agreed to: the common columns or operations and the shortest duration. */
function intersect(granted: GrantedScope, approvals: ApprovalRow[]): GrantedScope {
  let { columns, operations, durationSeconds } = granted;
  for (const a of approvals) {
    if (a.columns.length > 0) columns = columns.filter((c) => a.columns.includes(c));
    if (a.operations.length > 0) operations = operations.filter((o) => a.operations.includes(o));
    if (a.durationSeconds !== null) durationSeconds = Math.min(durationSeconds, a.durationSeconds);
  }
  for (const [key, left] of [
    ['columns', columns],
    ['operations', operations],
  ] as const) {
    if (granted[key].length > 0 && left.length === 0) {
      throw new AccessError(AccessErrorCode.NARROWING_ONLY, `The approvers narrowed the ${key} to nothing in common; deny the request instead.`);
    }
  }
  return { columns, operations, durationSeconds };
}

/** An approval's audit data names what it grants: columns, or operations for an HTTP API. */
function partsOf(scope: GrantedScope): { columns: string[] } | { operations: string[] } {
  return scope.operations.length > 0 ? { operations: scope.operations } : { columns: scope.columns };
}
