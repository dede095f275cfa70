import type { ApproverBrief } from '@gatehouse/core';
import type { Block, SlackMessage } from './message';
import { partsSection, partsText, when } from './message';
import { escapeMrkdwn } from './mrkdwn';

// The direct message that asks a user whether an agent may act for them. Pure: everything comes
// from the brief; everything an agent or a person wrote is escaped.

/** Action ids of the consent buttons; the button's value is the request id. */
export const CONSENT_ACTIONS = {
  allow_once: 'gatehouse_consent_once',
  allow_for_8h: 'gatehouse_consent_8h',
  refuse: 'gatehouse_consent_refuse',
} as const;

function scopeOf(brief: ApproverBrief): string {
  const { view } = brief;
  return `${view.actions.join('/')} ${view.resource} (${partsText(view)}) for ${view.duration}`;
}

/** What the user decided, and what became of the request since. */
function statusLine(brief: ApproverBrief): string {
  const { view } = brief;
  if (brief.consent === 'refused')
    return `:no_entry: You refused${view.decidedAt ? ` ${when(view.decidedAt)}` : ''}. The agent gets no access on your behalf.`;
  if (brief.consent === 'pending') {
    if (view.status === 'pending') return `:raised_hand: Only you can answer. This question expires ${when(view.approval!.expiresAt)}.`;
    const ended =
      view.status === 'cancelled'
        ? 'The agent withdrew its request'
        : view.status === 'timed_out'
          ? 'Nobody answered in time'
          : `The request is ${view.status.replace('_', ' ')}`;
    return `:information_source: ${ended}; nothing to answer.`;
  }
  const next =
    view.status === 'approved'
      ? `approved${view.grant ? `; access until ${when(view.grant.expiresAt)}` : ''}`
      : view.status === 'pending'
        ? `waiting for ${escapeMrkdwn(view.approval?.approvers ?? 'approvers')} to approve`
        : view.status.replace('_', ' ');
  return `:white_check_mark: You allowed this. The request is now ${next}.`;
}

/** "Agent A asks to act for you": reason, resource, columns, and three answers while it waits. */
export function buildConsentMessage(brief: ApproverBrief): SlackMessage {
  const { view, agent } = brief;
  const owner = agent.owner ? ` (owner: ${escapeMrkdwn(agent.owner)})` : '';
  const text = `Agent ${escapeMrkdwn(agent.name)} asks to act for you: ${escapeMrkdwn(scopeOf(brief))}.`;
  const blocks: Block[] = [
    { type: 'header', text: { type: 'plain_text', text: `${agent.name} asks to act for you`.slice(0, 150) } },
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `Agent *${escapeMrkdwn(agent.name)}*${owner} asks to act on your behalf: *${escapeMrkdwn(scopeOf(brief))}*. If you allow it, Gatehouse's policy still decides, and may ask approvers.`,
      },
    },
    { type: 'section', text: { type: 'mrkdwn', text: `*Reason given by the agent*\n>${escapeMrkdwn(view.reason).replace(/\n/g, '\n>')}` } },
    partsSection(brief),
    {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: `"Allow for 8 hours" lets ${escapeMrkdwn(agent.name)} act for you on ${escapeMrkdwn(view.resource)} for 8 hours without asking again. Request \`${view.id}\` · risk ${view.decision.riskScore} / 100`,
        },
      ],
    },
    { type: 'section', text: { type: 'mrkdwn', text: statusLine(brief) } },
  ];
  if (brief.consent === 'pending' && view.status === 'pending') {
    blocks.push({
      type: 'actions',
      block_id: `consent-${view.id}`,
      elements: [
        {
          type: 'button',
          action_id: CONSENT_ACTIONS.allow_once,
          style: 'primary',
          text: { type: 'plain_text', text: 'Allow this request' },
          value: view.id,
        },
        { type: 'button', action_id: CONSENT_ACTIONS.allow_for_8h, text: { type: 'plain_text', text: 'Allow for 8 hours' }, value: view.id },
        { type: 'button', action_id: CONSENT_ACTIONS.refuse, style: 'danger', text: { type: 'plain_text', text: 'Refuse' }, value: view.id },
      ],
    });
  }
  return { text, blocks };
}
