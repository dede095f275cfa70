import { Baseline, observe, zoneOf } from '../behaviour/baseline';
import { formatDuration } from '../duration';
import { AccessError, AccessErrorCode } from '../errors';
import { Decision } from './evaluate';
import { BudgetUsage, budgetsSelecting, decideWithBudgets } from './budgets';
import { PolicyTestCase, PolicyTestExpectation, PolicyTestFile, PolicyTestRequest } from './policy-test';
import { checkRequest, decideRequest, evaluationInput, judgeRequest, requestFacts } from './request';
import { resolveScope } from './scope';
import { Policy } from './types';

/** What the broker would know besides the case itself. */
export interface PolicyTestOptions {
  /** The broker's cap on any requested duration (GATEHOUSE_MAX_DURATION). */
  maxRequestDurationSeconds: number;
  /** The time of a case that gives no `at`. */
  now: Date;
}

/** What came of a case: the policy's decision, or the broker's refusal. */
export type CaseAnswer = { kind: 'decision'; decision: Decision } | { kind: 'error'; code: AccessErrorCode; message: string };

/** One case run: what came, and each way it differs from what was expected (none: it passed). */
export interface CaseResult {
  testCase: PolicyTestCase;
  answer: CaseAnswer;
  mismatches: string[];
}

/**
 * Runs one case through the broker's own steps: the duration under the cap and the scope
 * (checkRequest), then the policy with the named user taken as proven (decideRequest). A user in
 * a case stands for a user with a live delegation that does not end before the grant would.
 */
export function runPolicyCase(policy: Policy, testCase: PolicyTestCase, options: PolicyTestOptions): CaseResult {
  const { request } = testCase;
  let answer: CaseAnswer;
  try {
    const { durationSeconds, scope } = checkRequest(policy, request, options.maxRequestDurationSeconds);
    const named = request.onBehalfOf;
    const user = named ? { id: named.id, email: named.email ?? named.id, groups: named.groups ?? [] } : null;
    const agent = { id: request.agent.id ?? request.agent.name, name: request.agent.name, attributes: request.agent.attributes ?? {} };
    // An extension: the chain's time so far counts against maxDuration (`extends.used`; none with `extension: true` alone).
    const extension = request.extends ? { usedSeconds: request.extends.used } : request.extension ? { usedSeconds: 0 } : null;
    const proven = { policy, scope, durationSeconds, user, delegation: null, breakGlass: request.breakGlass ?? false, extension };
    const now = request.at ?? options.now;
    const history = { baseline: baselineOf(policy, request, agent.attributes), minuteCount: request.requestsThisMinute ?? 1 };
    const { anomalies } = judgeRequest(policy, { scope, user }, agent, history, now);
    const byRules = decideRequest(proven, agent, request.sourceIp ?? null, now, anomalies);
    const selected = budgetsSelecting(policy, evaluationInput(proven, agent, request.sourceIp ?? null, now, anomalies), byRules);
    const { decision } = decideWithBudgets(policy, byRules, selected, usageOf(policy, request.usage), {
      resource: scope.resource.id,
      requestedSeconds: durationSeconds,
    });
    answer = { kind: 'decision', decision };
  } catch (error) {
    if (!(error instanceof AccessError)) throw error;
    answer = { kind: 'error', code: error.code, message: error.message };
  }
  return { testCase, answer, mismatches: mismatches(testCase.expect, answer) };
}

/** The baseline a case's `history` teaches, observed as the broker observes each request. */
function baselineOf(policy: Policy, request: PolicyTestCase['request'], attributes: Record<string, unknown>): Baseline {
  const zone = zoneOf(attributes, policy.defaults.anomaly);
  let baseline: Baseline = {};
  for (const past of request.history ?? []) {
    const scope = resolveScope(policy, {
      resource: past.resource,
      actions: past.actions ?? ['read'],
      columns: past.columns,
      operations: past.operations,
    });
    const user = past.onBehalfOf ? { id: past.onBehalfOf.id, email: past.onBehalfOf.email ?? past.onBehalfOf.id } : null;
    const facts = requestFacts(policy, { scope, user }, 1);
    for (let i = 0; i < (past.times ?? 1); i++) baseline = observe(baseline, facts, past.at, zone);
  }
  return baseline;
}

/** A case's usage facts as the broker would count them; the granted time applies to every budget's sensitivity. */
function usageOf(policy: Policy, given: PolicyTestRequest['usage']): BudgetUsage {
  const seconds = given?.grantedTimeToday ?? 0;
  return {
    liveGrants: given?.liveGrants ?? 0,
    requestsLastHour: given?.requestsLastHour ?? 0,
    grantedSecondsToday: Object.fromEntries(policy.sensitivity.map((label) => [label, seconds])),
  };
}

/** Runs every case of a file against the policy, in the file's order. */
export function runPolicyTests(policy: Policy, file: PolicyTestFile, options: PolicyTestOptions): CaseResult[] {
  return file.cases.map((testCase) => runPolicyCase(policy, testCase, options));
}

const sorted = (ids: string[]) => [...new Set(ids)].sort();

function mismatches(expected: PolicyTestExpectation, answer: CaseAnswer): string[] {
  if (expected.error !== undefined) {
    if (answer.kind === 'error' && answer.code === expected.error) return [];
    return [
      `expected the broker to refuse with ${expected.error}, but ${answer.kind === 'error' ? `it refused with ${answer.code}` : 'the policy decided'}`,
    ];
  }
  if (answer.kind === 'error') return [`expected the policy to decide ${expected.outcome}, but the broker refused the request with ${answer.code}`];
  const { decision } = answer;
  const found: string[] = [];
  if (decision.outcome !== expected.outcome) found.push('outcome');
  if (expected.rules && sorted(expected.rules).join(',') !== sorted(decision.rules).join(',')) found.push('rules');
  if (expected.durationSeconds !== undefined && expected.durationSeconds !== decision.durationSeconds) found.push('duration');
  if (expected.approvers !== undefined && expected.approvers !== decision.approval?.approvers) found.push('approvers');
  if (expected.approvals !== undefined && expected.approvals !== decision.approval?.required) found.push('approvals');
  if (expected.anomalies && sorted(expected.anomalies).join(',') !== sorted(decision.anomalies.map((a) => a.code)).join(',')) found.push('anomalies');
  return found.length === 0 ? [] : [`${found.join(', ')} ${found.length === 1 ? 'differs' : 'differ'}`];
}

function showRules(rules: string[]): string {
  return rules.length === 0 ? 'rules [] (no rule matched: the default)' : `rules [${rules.join(', ')}]`;
}

/** "require_approval, rules [pii-needs-owner], duration 30m": only what the case expects. */
export function describePolicyTestExpectation(expected: PolicyTestExpectation): string {
  if (expected.error !== undefined) return `refused with ${expected.error}`;
  const parts: string[] = [expected.outcome!];
  if (expected.rules) parts.push(showRules(sorted(expected.rules)));
  if (expected.durationSeconds !== undefined) parts.push(`duration ${formatDuration(expected.durationSeconds)}`);
  if (expected.approvers !== undefined) parts.push(`approvers ${expected.approvers}`);
  if (expected.approvals !== undefined) parts.push(`approvals ${expected.approvals}`);
  if (expected.anomalies !== undefined) parts.push(`anomalies [${sorted(expected.anomalies).join(', ')}]`);
  return parts.join(', ');
}

/** Everything that came: outcome, rules, duration (and who approves), or the refusal. */
export function describePolicyTestAnswer(answer: CaseAnswer): string {
  if (answer.kind === 'error') return `refused with ${answer.code}`;
  const { decision } = answer;
  const parts = [decision.outcome, showRules(decision.rules), `duration ${formatDuration(decision.durationSeconds)}`];
  if (decision.approval) parts.push(`approvers ${decision.approval.approvers}`, `approvals ${decision.approval.required}`);
  if (decision.anomalies.length > 0) parts.push(`anomalies [${sorted(decision.anomalies.map((a) => a.code)).join(', ')}]`);
  return parts.join(', ');
}

/** The lines printed for a failed case: where it is, what was expected, what came and its message. */
export function formatPolicyTestFailure(source: string, result: CaseResult): string[] {
  const { testCase, answer } = result;
  const message = answer.kind === 'error' ? answer.message : answer.decision.message;
  return [
    `FAIL ${source} ${testCase.path} "${testCase.name}": ${result.mismatches.join('; ')}`,
    `  expected: ${describePolicyTestExpectation(testCase.expect)}`,
    `  got:      ${describePolicyTestAnswer(answer)}`,
    `  message:  ${message}`,
  ];
}

/** The one-line summary: "policy tests: 12 passed, 1 failed (2 files, policies/default.yaml)". */
export function summarizePolicyTests(results: CaseResult[], files: number, policies: string[]): string {
  const failed = results.filter((result) => result.mismatches.length > 0).length;
  const counts = failed > 0 ? `${results.length - failed} passed, ${failed} failed` : `${results.length} passed`;
  return `policy tests: ${counts} (${files} ${files === 1 ? 'file' : 'files'}, ${policies.join(', ')})`;
}
