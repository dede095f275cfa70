import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, importJWK, JWK } from 'jose';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { Prisma } from '@gatehouse/prisma';
import { Database } from '../../db/database';
import { AgentsRepository } from '../../db/agents.repository';
import { AuditEventsRepository } from '../../db/audit-events.repository';
import { GrantsRepository } from '../../db/grants.repository';
import { EndedGrants } from '../../enforcement/ended-grants';
import { AgentChanges } from '../../events/agent-changes';
import { algorithmFor } from '../../auth/agent-authenticator';
import { Origin, actorName } from '../actor';
import { AgentView, agentView } from './agent.view';

/** Keeps only the public members of a JWK and proves it imports; returns it with its thumbprint. */
async function publicKeyOf(jwk: JWK): Promise<{ publicJwk: JWK; keyId: string }> {
  if ('d' in jwk)
    throw new AccessError(
      AccessErrorCode.INVALID_KEY,
      'publicJwk contains a private key ("d"); send only the public half, and treat that private key as leaked.',
    );
  const alg = algorithmFor(jwk);
  const publicJwk: JWK = jwk.kty === 'OKP' ? { kty: 'OKP', crv: jwk.crv, x: jwk.x } : { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
  try {
    await importJWK(publicJwk, alg);
  } catch (error) {
    throw new AccessError(AccessErrorCode.INVALID_KEY, `publicJwk is not a valid ${jwk.crv} public key: ${(error as Error).message}`);
  }
  const keyId = await calculateJwkThumbprint(publicJwk);
  return { publicJwk: { ...publicJwk, alg, kid: keyId }, keyId };
}

const notFound = (id: string) => new AccessError(AccessErrorCode.AGENT_NOT_FOUND, `No agent ${id}.`);

/** An admin registers an agent with its public key. */
@Injectable()
export class RegisterAgent {
  constructor(
    private readonly db: Database,
    private readonly agents: AgentsRepository,
    private readonly audit: AuditEventsRepository,
  ) {}

  async execute(input: { name: string; publicJwk: JWK; attributes?: Record<string, unknown>; owner?: string; origin: Origin }): Promise<AgentView> {
    const key = await publicKeyOf(input.publicJwk);
    try {
      return await this.db.transaction(async (tx) => {
        const row = await this.agents.create(tx, {
          id: randomUUID(),
          name: input.name,
          owner: input.owner ?? null,
          attributes: input.attributes ?? {},
          publicJwk: key.publicJwk as object,
          keyId: key.keyId,
        });
        await this.audit.append(tx, [
          {
            type: 'agent.registered',
            actor: actorName(input.origin.actor),
            sourceIp: input.origin.sourceIp,
            agentId: row.id,
            data: { name: row.name, owner: row.owner, keyId: row.keyId, attributes: row.attributes },
          },
        ]);
        return agentView(row);
      });
    } catch (error) {
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
        throw new AccessError(AccessErrorCode.AGENT_NAME_TAKEN, `An agent named "${input.name}" exists; choose another name.`);
      }
      throw error;
    }
  }
}

/** Suspends an agent and revokes all its active grants in the same transaction. */
@Injectable()
export class SuspendAgent {
  constructor(
    private readonly db: Database,
    private readonly agents: AgentsRepository,
    private readonly grants: GrantsRepository,
    private readonly audit: AuditEventsRepository,
    private readonly changes: AgentChanges,
    private readonly ended: EndedGrants,
  ) {}

  /** `reason` is recorded on agent.suspended; `suspended` says whether this call suspended it (false: it already was). */
  async execute(input: {
    agentId: string;
    origin: Origin;
    now: Date;
    reason?: string;
  }): Promise<{ agent: AgentView; revokedGrants: string[]; suspended: boolean }> {
    const actor = actorName(input.origin.actor);
    const result = await this.db.transaction(async (tx) => {
      if (!(await this.agents.findById(tx, input.agentId))) throw notFound(input.agentId);
      let revokedRows: { id: string; expiresAt: Date }[] = [];
      const suspended = (await this.agents.setStatus(tx, input.agentId, 'suspended', input.now)) === 1;
      if (suspended) {
        revokedRows = await this.grants.revokeAllForAgent(tx, input.agentId, actor, input.now, 'agent suspended');
        const revoked = revokedRows.map((g) => g.id);
        await this.audit.append(tx, [
          {
            type: 'agent.suspended',
            actor,
            sourceIp: input.origin.sourceIp,
            agentId: input.agentId,
            data: { revokedGrants: revoked, ...(input.reason !== undefined && { reason: input.reason }) },
          },
          ...revoked.map((grantId) => ({
            type: 'grant.revoked',
            actor,
            sourceIp: input.origin.sourceIp,
            agentId: input.agentId,
            grantId,
            data: { reason: 'agent suspended' },
          })),
        ]);
      }
      return { agent: agentView((await this.agents.findById(tx, input.agentId))!), revoked: revokedRows, suspended };
    });
    await this.ended.announce(result.revoked);
    await this.changes.changed(input.agentId);
    return { agent: result.agent, revokedGrants: result.revoked.map((g) => g.id), suspended: result.suspended };
  }
}

/** Lets a suspended agent ask again. Its revoked grants stay revoked. */
@Injectable()
export class ResumeAgent {
  constructor(
    private readonly db: Database,
    private readonly agents: AgentsRepository,
    private readonly audit: AuditEventsRepository,
    private readonly changes: AgentChanges,
  ) {}

  async execute(input: { agentId: string; origin: Origin; now: Date }): Promise<AgentView> {
    const view = await this.db.transaction(async (tx) => {
      if (!(await this.agents.findById(tx, input.agentId))) throw notFound(input.agentId);
      if ((await this.agents.setStatus(tx, input.agentId, 'active', input.now)) === 1) {
        await this.audit.append(tx, [
          { type: 'agent.resumed', actor: actorName(input.origin.actor), sourceIp: input.origin.sourceIp, agentId: input.agentId },
        ]);
      }
      return agentView((await this.agents.findById(tx, input.agentId))!);
    });
    await this.changes.changed(input.agentId);
    return view;
  }
}

/** Replaces an agent's public key; assertions signed with the old key stop verifying at once. */
@Injectable()
export class RotateAgentKey {
  constructor(
    private readonly db: Database,
    private readonly agents: AgentsRepository,
    private readonly audit: AuditEventsRepository,
    private readonly changes: AgentChanges,
  ) {}

  async execute(input: { agentId: string; publicJwk: JWK; origin: Origin }): Promise<AgentView> {
    const key = await publicKeyOf(input.publicJwk);
    const view = await this.db.transaction(async (tx) => {
      const before = await this.agents.findById(tx, input.agentId);
      if (!before) throw notFound(input.agentId);
      const row = await this.agents.replaceKey(tx, input.agentId, key.publicJwk as object, key.keyId);
      await this.audit.append(tx, [
        {
          type: 'agent.key_rotated',
          actor: actorName(input.origin.actor),
          sourceIp: input.origin.sourceIp,
          agentId: row.id,
          data: { from: before.keyId, to: row.keyId },
        },
      ]);
      return agentView(row);
    });
    await this.changes.changed(input.agentId);
    return view;
  }
}
