import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AccessError, AccessErrorCode, delegationCovers } from '@gatehouse/domain';
import { Database } from '../../db/database';
import { AccessRequestsRepository } from '../../db/access-requests.repository';
import { AgentsRepository } from '../../db/agents.repository';
import { AuditEventsRepository } from '../../db/audit-events.repository';
import { DelegationRow, DelegationsRepository } from '../../db/delegations.repository';
import { GrantsRepository } from '../../db/grants.repository';
import { UsersRepository } from '../../db/users.repository';
import { PolicyStore } from '../../policy/policy.store';
import { Origin, actorName } from '../actor';
import { EndedGrants } from '../../enforcement/ended-grants';
import { RequestEffects } from '../access-requests/request-effects';
import { DecideAfterConsent } from './decide-after-consent';
import { DelegationView, delegationView } from './delegation.view';

/** Checks that the agent and the user exist; a delegation between strangers names nothing. */
async function checkPair(agents: AgentsRepository, users: UsersRepository, db: Database, agentId: string, userId: string): Promise<void> {
  const [agent, user] = await Promise.all([agents.findById(db.client, agentId), users.findById(db.client, userId)]);
  if (!agent) throw new AccessError(AccessErrorCode.AGENT_NOT_FOUND, `No agent ${agentId}.`);
  if (!user) throw new AccessError(AccessErrorCode.USER_NOT_FOUND, `No user ${userId}; an admin registers users with PUT /v1/admin/users/{id}.`);
}

/**
 * An admin delegates a user to an agent (replacing the admin delegation the pair had), optionally
 * only for some resources and until a time. Requests of that agent waiting for that user's consent,
 * and covered by the new delegation, go on to the policy at once.
 */
@Injectable()
export class PutDelegation {
  private readonly logger = new Logger(PutDelegation.name);

  constructor(
    private readonly db: Database,
    private readonly delegations: DelegationsRepository,
    private readonly agents: AgentsRepository,
    private readonly users: UsersRepository,
    private readonly requests: AccessRequestsRepository,
    private readonly audit: AuditEventsRepository,
    private readonly policy: PolicyStore,
    private readonly decideAfter: DecideAfterConsent,
    private readonly effects: RequestEffects,
  ) {}

  async execute(input: {
    agentId: string;
    userId: string;
    resources?: string[];
    expiresAt?: Date;
    origin: Origin;
    now: Date;
  }): Promise<DelegationView> {
    const { agentId, userId, now } = input;
    const resources = [...new Set(input.resources ?? [])];
    if (input.expiresAt && input.expiresAt.getTime() <= now.getTime()) {
      throw new AccessError(
        AccessErrorCode.VALIDATION_FAILED,
        'expiresAt is not in the future; omit it for a delegation that lasts until it is ended.',
        [{ path: 'expiresAt', message: 'must be in the future' }],
      );
    }
    // A typo in an exact id would silently delegate nothing; globs may name resources to come.
    const known = this.policy.current().resources;
    const unknown = resources.filter((r) => !r.includes('*') && !Object.hasOwn(known, r));
    if (unknown.length > 0) {
      throw new AccessError(
        AccessErrorCode.UNKNOWN_RESOURCE,
        `The policy has no resource ${unknown.map((r) => `"${r}"`).join(', ')}; use ids from GET /v1/admin/policy, or a glob like crm.*.`,
        unknown.map((r) => ({ path: `resources[${resources.indexOf(r)}]`, message: `unknown resource "${r}"` })),
      );
    }
    await checkPair(this.agents, this.users, this.db, agentId, userId);
    const actor = actorName(input.origin.actor);
    const created = await this.db.transaction(async (tx) => {
      await this.delegations.lockPair(tx, agentId, userId);
      const replaced = await this.delegations.endOpen(tx, agentId, userId, actor, now, 'admin');
      const row = await this.delegations.insert(tx, {
        id: randomUUID(),
        agentId,
        userId,
        resources,
        expiresAt: input.expiresAt ?? null,
        source: 'admin',
        createdBy: actor,
        requestId: null,
        createdAt: now,
      });
      await this.audit.append(tx, [
        {
          type: 'delegation.created',
          actor,
          sourceIp: input.origin.sourceIp,
          agentId,
          data: {
            delegationId: row.id,
            user: userId,
            resources,
            expiresAt: row.expiresAt?.toISOString() ?? null,
            source: 'admin',
            replaced: replaced.map((d) => d.id),
          },
        },
      ]);
      return row;
    });
    await this.resumeWaiting(created, actor, input.origin.sourceIp ?? null, now);
    return delegationView(created, now);
  }

  /** Requests that waited for this user's consent and that the delegation covers are decided now. */
  private async resumeWaiting(delegation: DelegationRow, actor: string, sourceIp: string | null, now: Date): Promise<void> {
    const waiting = await this.requests.findAwaitingConsent(this.db.client, delegation.agentId, delegation.userId);
    for (const { id } of waiting.filter((r) => delegationCovers(delegation, r.resource, now))) {
      try {
        const outcome = await this.db.transaction(async (tx) => {
          const request = await this.requests.findForDecision(tx, id);
          if (!request || request.status !== 'pending' || request.consent !== 'pending') return null;
          await this.audit.append(tx, [
            {
              type: 'request.consented',
              actor,
              sourceIp,
              requestId: id,
              agentId: request.agentId,
              data: { answer: 'delegation', delegationId: delegation.id },
            },
          ]);
          return this.decideAfter.run(tx, request, { delegation, actor }, now);
        });
        if (outcome) await this.effects.consentResolved(outcome);
      } catch (error) {
        // The delegation stands; a request left waiting times out or is answered as usual.
        this.logger.warn(`request ${id} stays waiting for consent: ${error}`);
      }
    }
  }
}

/**
 * Ends every delegation from a user to an agent (admin's and consent's). What they allowed ends with
 * them: the agent's active grants acting for that user are revoked, and its requests that an ended
 * delegation proved and that still wait for approvers are denied.
 */
@Injectable()
export class EndDelegation {
  constructor(
    private readonly db: Database,
    private readonly delegations: DelegationsRepository,
    private readonly agents: AgentsRepository,
    private readonly users: UsersRepository,
    private readonly grants: GrantsRepository,
    private readonly requests: AccessRequestsRepository,
    private readonly audit: AuditEventsRepository,
    private readonly effects: RequestEffects,
    private readonly ended: EndedGrants,
  ) {}

  async execute(input: {
    agentId: string;
    userId: string;
    origin: Origin;
    now: Date;
  }): Promise<{ ended: DelegationView[]; revokedGrants: string[]; deniedRequests: string[] }> {
    const { agentId, userId, now } = input;
    await checkPair(this.agents, this.users, this.db, agentId, userId);
    const actor = actorName(input.origin.actor);
    const base = { actor, sourceIp: input.origin.sourceIp, agentId };
    const result = await this.db.transaction(async (tx) => {
      await this.delegations.lockPair(tx, agentId, userId);
      const ended = await this.delegations.endOpen(tx, agentId, userId, actor, now);
      if (ended.length === 0) return { ended, revoked: [], denied: [] };
      const revoked = await this.grants.revokeActingFor(tx, agentId, userId, actor, now, 'delegation ended');
      const denied: string[] = [];
      for (const { id } of await this.requests.findPendingProvenBy(
        tx,
        ended.map((d) => d.id),
      )) {
        if ((await this.requests.decide(tx, id, 'denied', actor, now, 'the delegation that proved the user ended')) === 1) denied.push(id);
      }
      await this.audit.append(tx, [
        ...ended.map((d) => ({ ...base, type: 'delegation.ended', data: { delegationId: d.id, user: userId, source: d.source } })),
        ...revoked.map((g) => ({ ...base, type: 'grant.revoked', requestId: g.requestId, grantId: g.id, data: { reason: 'delegation ended' } })),
        ...denied.map((id) => ({ ...base, type: 'request.denied', requestId: id, data: { reason: 'delegation ended' } })),
      ]);
      return { ended: ended.map((d) => ({ ...d, endedAt: now, endedBy: actor })), revoked, denied };
    });
    await this.ended.announce(result.revoked);
    for (const g of result.revoked) await this.effects.changed(g.requestId, 'revoked');
    for (const id of result.denied) await this.effects.changed(id, 'denied');
    return { ended: result.ended.map((d) => delegationView(d, now)), revokedGrants: result.revoked.map((g) => g.id), deniedRequests: result.denied };
  }
}

/** An agent's delegations: the live ones, or all of them. */
@Injectable()
export class ListDelegations {
  constructor(
    private readonly db: Database,
    private readonly agents: AgentsRepository,
    private readonly delegations: DelegationsRepository,
  ) {}

  async execute(input: { agentId: string; status: 'live' | 'all'; now: Date }): Promise<{ items: DelegationView[] }> {
    if (!(await this.agents.findById(this.db.client, input.agentId)))
      throw new AccessError(AccessErrorCode.AGENT_NOT_FOUND, `No agent ${input.agentId}.`);
    const rows = await this.delegations.listForAgent(this.db.client, input.agentId, { live: input.status === 'live', now: input.now });
    return { items: rows.map((d) => delegationView(d, input.now)) };
  }
}
