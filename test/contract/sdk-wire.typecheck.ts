// The SDK may not import server code, so it declares the API's shapes itself. This file pins those
// copies to the server's own view types: `npm run typecheck` (part of `npm test`) fails the moment
// either side gains, loses or changes a field the other does not.
import type { AccessRequestView, GrantSummary as ServerGrantSummary, GrantView, StoredDecision } from '@gatehouse/core';
import type { AccessRequest, Decision, Grant, GrantSummary } from '@gatehouse/sdk';

/** true when A and B accept exactly the same values. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const check = <T extends true>(): T => true as T;

export const wireTypesMatch = [
  check<Same<AccessRequest, AccessRequestView>>(),
  check<Same<Decision, Pick<StoredDecision, 'outcome' | 'rules' | 'message' | 'riskScore' | 'policyVersion' | 'breakGlass' | 'anomalies'>>>(),
  check<Same<Grant, GrantView>>(),
  check<Same<GrantSummary, ServerGrantSummary>>(),
];
