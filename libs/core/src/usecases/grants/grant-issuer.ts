import { Injectable } from '@nestjs/common';
import type { GrantedScope } from '@gatehouse/domain';
import { randomUUID } from 'node:crypto';
import { Tx } from '../../db/prisma.service';
import { GrantRow, GrantsRepository } from '../../db/grants.repository';
import type { AccessRequestRow } from '../../db/access-requests.repository';
import { AuditEntry } from '../../db/audit-events.repository';
import { KeyService } from '../../keys/key.service';
import { PolicyStore } from '../../policy/policy.store';

/** Makes the grant of an approved request: its row, its signing key id and its audit entry. */
@Injectable()
export class GrantIssuer {
  constructor(
    private readonly grants: GrantsRepository,
    private readonly keys: KeyService,
    private readonly policy: PolicyStore,
  ) {}

  /** The grant row and its audit entry, not yet stored (the submit path inserts them in one statement). */
  build(request: AccessRequestRow, scope: GrantedScope, now: Date, actor: string): { grant: GrantRow; audit: AuditEntry } {
    // Whole seconds, so the row re-signs to the very token first handed out (iat/exp are seconds).
    const issuedAt = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const resource = this.policy.current().resources[request.resource];
    const grant: GrantRow = {
      id: randomUUID(),
      requestId: request.id,
      agentId: request.agentId,
      subject: request.onBehalfOf ?? request.agentId,
      audience: resource?.audience ?? request.resource,
      resource: request.resource,
      actions: request.actions,
      columns: scope.columns,
      operations: scope.operations,
      purpose: request.reason,
      kid: this.keys.currentKeyId,
      issuedAt,
      expiresAt: new Date(issuedAt.getTime() + scope.durationSeconds * 1000),
      status: 'active',
      endedAt: null,
      endedBy: null,
      endReason: null,
      // Budgets count granted time by this rating (see BudgetsRepository); '' for a request decided without one.
      sensitivity: request.decision.sensitivity || null,
    };
    const audit: AuditEntry = {
      type: 'grant.issued',
      actor,
      requestId: request.id,
      grantId: grant.id,
      agentId: request.agentId,
      data: {
        resource: grant.resource,
        audience: grant.audience,
        actions: grant.actions,
        columns: grant.columns,
        ...(grant.operations.length > 0 && { operations: grant.operations }),
        expiresAt: grant.expiresAt.toISOString(),
        kid: grant.kid,
      },
    };
    return { grant, audit };
  }

  /** Builds and stores the grant inside the caller's transaction. */
  async issue(tx: Tx, request: AccessRequestRow, scope: GrantedScope, now: Date, actor: string): Promise<{ grant: GrantRow; audit: AuditEntry }> {
    const built = this.build(request, scope, now, actor);
    return { grant: await this.grants.create(tx, built.grant), audit: built.audit };
  }
}
