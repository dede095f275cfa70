import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AccessError, AccessErrorCode, CONSENT_DELEGATION_SECONDS, ConsentAnswer } from '@gatehouse/domain';
import { Database } from '../../db/database';
import { AccessRequestsRepository } from '../../db/access-requests.repository';
import { AuditEventsRepository } from '../../db/audit-events.repository';
import { DelegationsRepository } from '../../db/delegations.repository';
import { AccessRequestView, StoredDecision } from '../access-request.view';
import { actorName } from '../actor';
import { Decider, DecisionBy, relayOf } from '../access-requests/decider';
import { RequestEffects } from '../access-requests/request-effects';
import { AfterConsent, DecideAfterConsent } from './decide-after-consent';

/**
 * The user an agent named answers "agent A asks to act for you": allow this request, allow for 8
 * hours (a delegation for that resource), or refuse. Only that user may answer; answering twice
 * changes nothing. Allowed, the policy then decides as for any request.
 */
@Injectable()
export class AnswerConsent {
  constructor(
    private readonly db: Database,
    private readonly requests: AccessRequestsRepository,
    private readonly delegations: DelegationsRepository,
    private readonly audit: AuditEventsRepository,
    private readonly decideAfter: DecideAfterConsent,
    private readonly decider: Decider,
    private readonly effects: RequestEffects,
  ) {}

  async execute(input: {
    requestId: string;
    by: DecisionBy;
    answer: ConsentAnswer;
    now: Date;
  }): Promise<{ view: AccessRequestView; changed: boolean }> {
    const { by, now } = input;
    let outcome: AfterConsent | null;
    try {
      outcome = await this.answer(input);
    } catch (error) {
      await this.decider.recordRefusal(input.requestId, by, `consent:${input.answer}`, error);
      throw error;
    }
    if (outcome) await this.effects.consentResolved(outcome);
    return { view: await this.effects.view(input.requestId, now), changed: outcome !== null };
  }

  private answer(input: { requestId: string; by: DecisionBy; answer: ConsentAnswer; now: Date }): Promise<AfterConsent | null> {
    const { by, now } = input;
    return this.db.transaction(async (tx): Promise<AfterConsent | null> => {
      const request = await this.requests.findForDecision(tx, input.requestId);
      if (!request) throw new AccessError(AccessErrorCode.REQUEST_NOT_FOUND, `No access request ${input.requestId}.`);
      if (request.status !== 'pending' || request.consent !== 'pending') return null;
      if (by.actor.kind !== 'user' || by.actor.id !== request.onBehalfOf) {
        throw new AccessError(AccessErrorCode.NOT_AN_APPROVER, `Only ${request.onBehalfOf}, the user the agent asks to act for, can answer this.`);
      }
      const userId = request.onBehalfOf;
      const actor = actorName(by.actor);
      const base = { actor, sourceIp: by.sourceIp, requestId: request.id, agentId: request.agentId };
      if (input.answer === 'refuse') {
        const decision = request.decision;
        const refused: StoredDecision = { ...decision, outcome: 'deny', rules: [], message: `${userId} refused to let this agent act for them.` };
        const update = {
          status: 'denied' as const,
          consent: 'refused' as const,
          delegationId: null,
          decision: refused,
          policyVersion: request.policyVersion,
          riskScore: request.riskScore,
          approverGroup: null,
          requiredApprovals: 0,
          approvalExpiresAt: request.approvalExpiresAt,
          remindAt: null,
          escalateAt: null,
          escalateTo: null,
          decidedAt: now,
          decidedBy: actor,
          decisionComment: null,
        };
        if ((await this.requests.recordConsentOutcome(tx, request.id, update)) === 0) return null;
        await this.audit.append(tx, [
          { ...base, type: 'delegation.refused', data: { ...relayOf(by), user: userId } },
          { ...base, type: 'request.denied', data: { ...relayOf(by), reason: 'consent refused' } },
        ]);
        return { event: 'denied', request: { ...request, ...update } };
      }
      let delegation = null;
      if (input.answer === 'allow_for_8h') {
        await this.delegations.lockPair(tx, request.agentId, userId);
        delegation = await this.delegations.insert(tx, {
          id: randomUUID(),
          agentId: request.agentId,
          userId,
          resources: [request.resource],
          expiresAt: new Date(now.getTime() + CONSENT_DELEGATION_SECONDS * 1000),
          source: 'consent',
          createdBy: actor,
          requestId: request.id,
          createdAt: now,
        });
        await this.audit.append(tx, [
          {
            ...base,
            type: 'delegation.created',
            data: {
              ...relayOf(by),
              delegationId: delegation.id,
              user: userId,
              resources: delegation.resources,
              expiresAt: delegation.expiresAt!.toISOString(),
              source: 'consent',
            },
          },
        ]);
      }
      await this.audit.append(tx, [
        { ...base, type: 'request.consented', data: { ...relayOf(by), answer: input.answer, delegationId: delegation?.id ?? null } },
      ]);
      return this.decideAfter.run(tx, request, { delegation, actor }, now);
    });
  }
}
