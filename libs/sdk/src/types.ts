import type { Decision } from './errors';

/** What an agent asks for (the body of POST /v1/access-requests). */
export interface AccessRequestInput {
  resource: string;
  actions: string[];
  /** Data resources: omitted means every column of the resource. */
  columns?: string[];
  /** HTTP resources (kind: http): the named operations; omitted means every operation within `actions`. */
  operations?: string[];
  /** `90s`, `15m`, `1h` or ISO 8601 (`PT15M`). */
  duration: string;
  reason: string;
  onBehalfOf?: string;
  task?: Record<string, unknown>;
  /**
   * Emergencies only: approved at once (for at most the policy's breakGlass.maxDuration) where
   * people would be asked, never past a deny. Only for agents the policy's breakGlass.allowed
   * admits (else 403 BREAK_GLASS_NOT_ALLOWED); alerted to people and reviewed afterwards.
   */
  breakGlass?: boolean;
}

/** How a grant stands: live, or ended one way. */
export type GrantStatus = 'active' | 'expired' | 'released' | 'revoked' | 'superseded';

/** A grant as the broker shows it; `token` only while it is live. */
export interface Grant {
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

/** Request statuses of the API. */
export type RequestStatus = 'pending' | 'approved' | 'denied' | 'cancelled' | 'timed_out';

/** The broker's access-request answer. */
export interface AccessRequest {
  id: string;
  status: RequestStatus;
  agentId: string;
  resource: string;
  actions: string[];
  columns: string[];
  operations?: string[];
  duration: string;
  reason: string;
  onBehalfOf: string | null;
  task: unknown;
  createdAt: string;
  decision: Decision;
  grant?: Grant;
  /**
   * While pending: `kind: 'consent'` waits for the user named in onBehalfOf (`approvers`) to allow the
   * agent to act for them; `kind: 'approvers'` waits for that group. `escalatedTo` may decide too.
   */
  approval?: { kind: 'consent' | 'approvers'; approvers: string; required: number; received: number; expiresAt: string; escalatedTo?: string };
  decidedBy?: string;
  decidedAt?: string;
  /** A break-glass access: whether a person has looked at it yet. */
  review?: { status: 'open' | 'acknowledged'; acknowledgedAt?: string; acknowledgedBy?: string; comment?: string };
  /** An extension: the id of the grant it extends. */
  extends?: string;
}

/** A request that waits for people; hand it to waitForGrant. */
export interface PendingHandle {
  requestId: string;
  request: AccessRequest;
}

/** requestAccess's answer: a grant at once, or a handle to wait on. */
export type AccessResult =
  | { status: 'approved'; grant: Grant & { token: string }; request: AccessRequest }
  | { status: 'pending'; handle: PendingHandle; request: AccessRequest };

/** One grant in GET /v1/grants (no token). */
export interface GrantSummary {
  id: string;
  requestId: string;
  agentId: string;
  /** The user acted for, else the agent id (the token's `sub`). */
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
