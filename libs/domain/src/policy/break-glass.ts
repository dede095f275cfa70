import { formatDuration } from '../duration';
import { AccessError, AccessErrorCode } from '../errors';
import { conditionsHold } from './conditions';
import { Decision, EvaluationInput, matchContextOf } from './evaluate';
import { Policy } from './types';

/** Named in a decision's rules when break-glass decided it; no rule may use this id. */
export const BREAK_GLASS_MARKER = 'break-glass';

/** Whether the policy's breakGlass.allowed admits this request (its agent, user, resource, time...). */
export function breakGlassAdmits(policy: Policy, input: EvaluationInput, decision: Pick<Decision, 'sensitivity' | 'riskScore'>): boolean {
  if (!policy.breakGlass) return false;
  return conditionsHold(policy.breakGlass.allowed, matchContextOf(policy, input, decision));
}

function named(rules: string[]): string {
  if (rules.length === 0) return 'the default (no rule matched)';
  return `${rules.length === 1 ? 'rule' : 'rules'} ${rules.join(', ')}`;
}

/**
 * A break-glass request's decision, from what the policy decided without it. Not admitted by
 * `breakGlass.allowed` (or no breakGlass in the policy): refused, whatever the rules say. Admitted:
 * a deny still denies; where people would be asked, it is approved at once for at most
 * breakGlass.maxDuration; an approve stays as it is. Every such decision says it is break-glass.
 */
export function applyBreakGlass(policy: Policy, input: EvaluationInput, decision: Decision): Decision {
  if (!breakGlassAdmits(policy, input, decision)) {
    const why = policy.breakGlass
      ? `breakGlass.allowed of the policy does not admit agent ${input.agent.name}${input.onBehalfOf ? ` acting for ${input.onBehalfOf.id}` : ''} on ${input.resource}`
      : 'the policy has no breakGlass block';
    throw new AccessError(
      AccessErrorCode.BREAK_GLASS_NOT_ALLOWED,
      `Break-glass is not allowed here: ${why}. Send the request without breakGlass to have it decided as usual.`,
      [{ path: 'breakGlass', message: why }],
    );
  }
  const breakGlass = policy.breakGlass!;
  switch (decision.outcome) {
    case 'deny':
      return { ...decision, breakGlass: true, message: `${decision.message} Break-glass never overrides a deny.` };
    case 'approve':
      return {
        ...decision,
        breakGlass: true,
        rules: [...decision.rules, BREAK_GLASS_MARKER],
        message: `${decision.message} Sent as break-glass: alerted, and reviewed by a person afterwards.`,
      };
    case 'require_approval': {
      const { approval, ...rest } = decision;
      const durationSeconds = Math.min(decision.durationSeconds, breakGlass.maxDurationSeconds);
      return {
        ...rest,
        outcome: 'approve',
        breakGlass: true,
        rules: [...decision.rules, BREAK_GLASS_MARKER],
        message:
          `Break-glass: approved at once for at most ${formatDuration(durationSeconds)}, bypassing the approval by ${approval?.approvers ?? policy.defaults.approvers} ` +
          `that ${named(decision.rules)} asks for. Alerted, and reviewed by a person afterwards.`,
        durationSeconds,
      };
    }
  }
}
