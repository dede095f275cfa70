import { AccessDeniedError, DelegationRequiredError, GatehouseError, type AccessRequest, type Grant, type GrantSummary } from '@gatehouse/sdk';

/** Short, model-readable texts for the tools' results. Pure: time comes in as an argument. */

function until(expiresAt: string, now: Date): string {
  const seconds = Math.max(0, Math.round((Date.parse(expiresAt) - now.getTime()) / 1000));
  const left = seconds >= 120 ? `${Math.round(seconds / 60)} min` : `${seconds} s`;
  return `${expiresAt} (${left} from now)`;
}

function what(g: Pick<Grant, 'actions' | 'resource' | 'columns' | 'operations'>): string {
  const parts = g.operations && g.operations.length > 0 ? `operations ${g.operations.join(', ')}` : `columns ${g.columns.join(', ')}`;
  return `${g.actions.join('+')} on ${g.resource}, ${parts}`;
}

/** The grant: what, until when, the token, and what to do next. */
export function approvedText(grant: Grant, request: AccessRequest | undefined, now: Date): string {
  const byPerson = request?.decidedBy && request.decidedBy !== 'policy';
  const why = request ? ` (${byPerson ? `approved by ${request.decidedBy}` : `policy rule ${request.decision.rules.join(', ') || 'default'}`})` : '';
  return [
    `APPROVED${why}. Grant ${grant.id}: ${what(grant)}, until ${until(grant.expiresAt, now)}.`,
    ...(request?.decision.breakGlass
      ? ['BREAK-GLASS: people were alerted and will review this access; use it only for the emergency you gave as reason.']
      : []),
    `Token: ${grant.token}`,
    (grant.operations && grant.operations.length > 0
      ? `Next: call the API with call_http_api (it sends this token through the gateway). It only covers the operations above. `
      : `Next: send it to the resource server as "Authorization: Bearer <token>". It only covers the columns above. `) +
      `Call release_access with grant_id "${grant.id}" as soon as the task is done.`,
  ].join('\n');
}

/** An extension: approved (the new token replaces the old one at once) or waiting for people (the old grant still works). */
export function extendedText(request: AccessRequest, now: Date): string {
  const old = request.extends ? `grant ${request.extends}` : 'the old grant';
  if (request.status === 'approved' && request.grant?.token) {
    return [
      `EXTENDED: ${approvedText(request.grant, request, now)}`,
      `The token of ${old} no longer works: use this one from now on. Policy note: ${request.decision.message}`,
    ].join('\n');
  }
  if (request.status === 'pending') {
    return `${pendingText(request)}\nUntil it is approved, keep using ${old} (it works until it expires); once approved, only the new token works.`;
  }
  return requestText(request, now);
}

/** A request waiting for people: first, maybe, the user it acts for; then approvers. */
export function pendingText(request: AccessRequest): string {
  const a = request.approval;
  if (a?.kind === 'consent') {
    return [
      `PENDING: waiting for ${a.approvers} to allow this: request ${request.id} acts for ${a.approvers} (${what(request)}). They were asked in a direct message and may answer until ${a.expiresAt}; approvers may be asked after that.`,
      `Next: call check_access_request with request_id "${request.id}" (it waits up to 60 s). Tell the user you are waiting for ${a.approvers} to allow it. Do not send a new request for the same thing.`,
    ].join('\n');
  }
  const who = a ? `${a.approvers} (${a.received}/${a.required} approvals, decide by ${a.expiresAt})` : 'an approver';
  return [
    `PENDING: request ${request.id} for ${what(request)} needs approval by ${who}.`,
    `Reason given: ${request.decision.message}`,
    `Next: call check_access_request with request_id "${request.id}" (it waits up to 60 s for a decision). Do not send a new request for the same thing.`,
  ].join('\n');
}

/** A request that ended without a grant. */
export function endedText(request: AccessRequest): string {
  switch (request.status) {
    case 'denied':
      return [
        `DENIED: request ${request.id} for ${what(request)}.`,
        `Why: ${request.decision.message}${request.decision.rules.length ? ` (rule ${request.decision.rules.join(', ')})` : ''}${request.decidedBy ? `, decided by ${request.decidedBy}` : ''}.`,
        'Next: do not retry the same request. Ask for fewer or less sensitive columns, or tell the user why this data is unavailable.',
      ].join('\n');
    case 'timed_out':
      return `TIMED OUT: nobody approved request ${request.id} in time. Next: ask the user whether to request again.`;
    case 'cancelled':
      return `CANCELLED: request ${request.id} was withdrawn. Next: request again if the access is still needed.`;
    default:
      return `Request ${request.id} is ${request.status}.`;
  }
}

/** Any request, whatever its state. */
export function requestText(request: AccessRequest, now: Date): string {
  if (request.status === 'pending') return pendingText(request);
  if (request.status === 'approved' && request.grant?.token) return approvedText(request.grant, request, now);
  if (request.status === 'approved' && request.grant?.status === 'superseded') {
    return `APPROVED earlier, but grant ${request.grant.id} was replaced by an extension; use the extended grant's token (list_my_grants shows it).`;
  }
  if (request.status === 'approved') {
    return `APPROVED earlier, but grant ${request.grant?.id} is now ${request.grant?.status ?? 'gone'}. Next: request access again if still needed.`;
  }
  return endedText(request);
}

/** The list of this agent's grants. */
export function grantsText(grants: GrantSummary[], now: Date): string {
  if (grants.length === 0) return 'No active grants. Use request_access to ask for what the task needs.';
  return [`${grants.length} active grant(s):`, ...grants.map((g) => `- ${g.id}: ${what(g)}, until ${until(g.expiresAt, now)}`)].join('\n');
}

/** What an HTTP API answered through the gateway: the status and the start of the body. */
export function httpResponseText(status: number, body: string, grant: Grant | undefined): string {
  const shown = body.length > 4000 ? `${body.slice(0, 4000)}\n[... ${body.length - 4000} more characters]` : body;
  const via = grant ? ` (with grant ${grant.id}: ${what(grant)})` : '';
  return `HTTP ${status}${via}\n${shown}`;
}

/** The gateway refused and nothing in the policy describes the call: no grant can make it. */
export function notDescribedText(status: number, message: string): string {
  return `REFUSED (HTTP ${status}): ${message}\nNext: no resource of the policy covers this call, so no request can make it. Tell the user, or use another API.`;
}

/** An error, with what to do about it. */
export function errorText(error: unknown): string {
  if (error instanceof AccessDeniedError && error.request) return endedText(error.request as AccessRequest);
  if (error instanceof DelegationRequiredError) {
    return `ERROR DELEGATION_REQUIRED (HTTP 403): ${error.message}\nNext: the user you named has not let this agent act for them and cannot be asked. Ask them (or an admin) to delegate, or request without on_behalf_of.`;
  }
  if (error instanceof GatehouseError && error.code === 'GRANT_NOT_ACTIVE') {
    return `ERROR GRANT_NOT_ACTIVE (HTTP ${error.status}): ${error.message}\nNext: only a live grant can be extended; use request_access to ask anew.`;
  }
  if (error instanceof GatehouseError) {
    const details = error.details.map((d) => `${d.path ? `${d.path}: ` : ''}${d.message}`).join('; ');
    return `ERROR ${error.code}${error.status ? ` (HTTP ${error.status})` : ''}: ${error.message}${details ? ` [${details}]` : ''}`;
  }
  return `ERROR: ${(error as Error)?.message ?? String(error)}`;
}
