import { Injectable } from '@nestjs/common';
import { effectiveGrantStatus, formatDuration, type Decision, type GrantStatus, type RequestStatus, type StoredDecision } from '@gatehouse/domain';
import type { AccessRequestRow, ReviewState } from '../db/access-requests.repository';
import type { GrantRow } from '../db/grants.repository';
import { GrantTokenService } from '../tokens/grant-token.service';

export type { StoredDecision };

/** What is stored of a domain decision (its approval settings live in the request's columns). */
export function storedDecision(d: Decision): StoredDecision {
  return {
    outcome: d.outcome,
    rules: d.rules,
    message: d.message,
    riskScore: d.riskScore,
    policyVersion: d.policyVersion,
    sensitivity: d.sensitivity,
    durationSeconds: d.durationSeconds,
    ...(d.breakGlass && { breakGlass: true }),
    anomalies: d.anomalies,
    ...(d.extension && { extension: d.extension }),
  };
}

/** A grant as agents and admins see it; the token only while the grant is live. */
export interface GrantView {
  id: string;
  status: GrantStatus;
  token?: string;
  expiresAt: string;
  resource: string;
  actions: string[];
  columns: string[];
  /** HTTP resources: the operations granted (columns is then empty). */
  operations?: string[];
}

/** The contract's access-request answer. */
export interface AccessRequestView {
  id: string;
  status: RequestStatus;
  agentId: string;
  resource: string;
  actions: string[];
  columns: string[];
  /** HTTP resources: the operations asked for (columns is then empty). */
  operations?: string[];
  duration: string;
  reason: string;
  onBehalfOf: string | null;
  task: unknown;
  createdAt: string;
  /** `anomalies`: how the request departed from its agent's baseline when it came ([] for none). */
  decision: Pick<StoredDecision, 'outcome' | 'rules' | 'message' | 'riskScore' | 'policyVersion' | 'breakGlass' | 'anomalies'>;
  grant?: GrantView;
  /**
   * While pending: who must act. `kind: consent` waits for the user named in onBehalfOf to allow the
   * agent to act for them (`approvers` is that user); `kind: approvers` waits for the approvers.
   * `escalatedTo`: once escalated, this group may decide too.
   */
  approval?: { kind: 'consent' | 'approvers'; approvers: string; required: number; received: number; expiresAt: string; escalatedTo?: string };
  decidedBy?: string;
  decidedAt?: string;
  /** A break-glass access: whether a person has looked at it yet (GET /v1/admin/reviews). */
  review?: { status: ReviewState; acknowledgedAt?: string; acknowledgedBy?: string; comment?: string };
  /** An extension (POST /v1/grants/{id}/extend): the id of the grant it extends. */
  extends?: string;
}

function reviewOf(row: AccessRequestRow): NonNullable<AccessRequestView['review']> {
  if (row.review === 'open' || !row.reviewedAt) return { status: 'open' };
  return {
    status: 'acknowledged',
    acknowledgedAt: row.reviewedAt.toISOString(),
    acknowledgedBy: row.reviewedBy ?? '',
    comment: row.reviewComment ?? '',
  };
}

function approvalOf(row: AccessRequestRow, received: number): NonNullable<AccessRequestView['approval']> {
  const expiresAt = row.approvalExpiresAt!.toISOString();
  if (row.consent === 'pending') return { kind: 'consent', approvers: row.onBehalfOf ?? '', required: 1, received: 0, expiresAt };
  return {
    kind: 'approvers',
    approvers: row.approverGroup ?? '',
    required: row.requiredApprovals,
    received,
    expiresAt,
    ...(row.escalatedAt && row.escalateTo ? { escalatedTo: row.escalateTo } : {}),
  };
}

/** `{operations}` for a request or grant on an HTTP API, nothing for data. */
export function operationsOf(row: { operations: string[] }): { operations?: string[] } {
  return row.operations.length > 0 ? { operations: row.operations } : {};
}

/** Renders requests and grants in the contract's shape. */
@Injectable()
export class AccessRequestPresenter {
  constructor(private readonly tokens: GrantTokenService) {}

  async grant(grant: GrantRow, now: Date): Promise<GrantView> {
    const status = effectiveGrantStatus(grant, now);
    return {
      id: grant.id,
      status,
      ...(status === 'active' ? { token: await this.tokens.sign(grant) } : {}),
      expiresAt: grant.expiresAt.toISOString(),
      resource: grant.resource,
      actions: grant.actions,
      columns: grant.columns,
      ...operationsOf(grant),
    };
  }

  async request(row: AccessRequestRow, grant: GrantRow | null, approvalsReceived: number, now: Date): Promise<AccessRequestView> {
    const d = row.decision;
    return {
      id: row.id,
      status: row.status,
      agentId: row.agentId,
      resource: row.resource,
      actions: row.actions,
      columns: row.columns,
      ...operationsOf(row),
      duration: formatDuration(row.durationSeconds),
      reason: row.reason,
      onBehalfOf: row.onBehalfOf,
      task: row.task ?? null,
      createdAt: row.createdAt.toISOString(),
      decision: {
        outcome: d.outcome,
        rules: d.rules,
        message: d.message,
        riskScore: d.riskScore,
        policyVersion: d.policyVersion,
        ...(d.breakGlass && { breakGlass: true }),
        anomalies: d.anomalies ?? [], // decisions stored before baselines have none
      },
      ...(grant ? { grant: await this.grant(grant, now) } : {}),
      ...(row.status === 'pending' ? { approval: approvalOf(row, approvalsReceived) } : {}),
      ...(row.decidedBy ? { decidedBy: row.decidedBy, decidedAt: row.decidedAt?.toISOString() } : {}),
      ...(row.review ? { review: reviewOf(row) } : {}),
      ...(row.extendsGrantId ? { extends: row.extendsGrantId } : {}),
    };
  }
}
