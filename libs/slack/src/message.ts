import { z } from 'zod';
import { AccessError, AccessErrorCode, formatDuration } from '@gatehouse/domain';
import { approveBody, parseInput } from '@gatehouse/core';
import type { ApproverBrief, PersonRef } from '@gatehouse/core';
import { escapeMrkdwn as e } from './mrkdwn';

// Pure Block Kit rendering: no Nest, no network. Everything comes from an ApproverBrief.
// Every piece of text that did not come from this file (agent input, names, policy wording) goes
// through `e` (escapeMrkdwn) before it enters mrkdwn; plain_text fields take it as it is.

/** A Block Kit block (kept loose: Slack's own types are large and we only build a few shapes). */
export type Block = Record<string, unknown>;

/** A message for chat.postMessage / chat.update: `text` is the notification and screen-reader fallback. */
export interface SlackMessage {
  text: string;
  blocks: Block[];
}

/** Action ids of the buttons and the modal; interaction handlers listen on these. */
export const ACTIONS = { approve: 'gatehouse_approve', deny: 'gatehouse_deny', changes: 'gatehouse_approve_changes' } as const;
export const CHANGES_MODAL = 'gatehouse_changes_modal';

const STATUS_LINE: Record<string, string> = {
  approved: ':white_check_mark: *Approved*',
  denied: ':no_entry: *Denied*',
  cancelled: ':leftwards_arrow_with_hook: *Cancelled by the agent*',
  timed_out: ':hourglass: *Timed out*: nobody decided in time; the agent must ask again',
};

/** `<@U123>` for a linked person, else their display name (escaped: mrkdwn). */
export function who(person: Pick<PersonRef, 'displayName' | 'slackUserId'> | null | undefined): string {
  if (!person) return 'someone';
  return person.slackUserId ? `<@${e(person.slackUserId)}>` : e(person.displayName);
}

/** A time in Slack's date format (shown in each reader's zone), with the ISO time as fallback. */
export function when(iso: string): string {
  const seconds = Math.floor(new Date(iso).getTime() / 1000);
  return `<!date^${seconds}^{date_short_pretty} {time_secs}|${iso}>`;
}

function approversText(brief: ApproverBrief): string {
  const group =
    brief.approverGroup === 'requester' ? `${who(brief.onBehalfOf)} (the user the agent acts for)` : `*${e(String(brief.approverGroup))}*`;
  const escalated = brief.escalation.escalatedAt && brief.escalation.to ? ` or *${e(brief.escalation.to)}* (escalated)` : '';
  return `${group}${escalated}`;
}

/** What a request or grant covers: its columns, or its operations on an HTTP API. */
export function partsText(scope: { columns: string[]; operations?: string[] }): string {
  return (scope.operations ?? scope.columns).join(', ');
}

/** One bullet per requested column or operation, with its sensitivity (and an operation's method and path). */
export function partsSection(brief: ApproverBrief): Block {
  const lines =
    brief.operations.length > 0
      ? brief.operations.map((o) => `• \`${e(o.name)}\`: ${e(o.method)} \`${e(o.path)}\` (${e(o.sensitivity)})`)
      : brief.columns.map((c) => `• \`${e(c.name)}\` (${e(c.sensitivity)})`);
  return { type: 'section', text: { type: 'mrkdwn', text: `*${brief.operations.length > 0 ? 'Operations' : 'Columns'}*\n${lines.join('\n')}` } };
}

/** What the reader has to do, or what happened: the first thing a person reads (mrkdwn, escaped). */
export function summary(brief: ApproverBrief): string {
  const { view } = brief;
  const agent = e(brief.agent.name);
  const scope = e(`${view.actions.join('/')} ${view.resource} (${partsText(view)}) for ${view.duration}`);
  const forWhom = brief.onBehalfOf ? ` on behalf of ${e(brief.onBehalfOf.displayName)}` : '';
  if (view.status === 'pending') {
    const left = Math.max(0, brief.required - brief.approvals.length);
    return `Agent ${agent} asks to ${scope}${forWhom}: needs ${left} more approval${left === 1 ? '' : 's'} from ${brief.approverGroup === 'requester' ? 'the user it acts for' : e(String(brief.approverGroup))}. Approve, deny, or approve with changes.`;
  }
  const by = brief.decidedBy && (view.status === 'approved' || view.status === 'denied') ? ` (by ${e(brief.decidedBy.displayName)})` : '';
  return `Agent ${agent}'s request to ${scope}${forWhom} is ${view.status.replace('_', ' ')}${by}.`;
}

function outcome(brief: ApproverBrief): string {
  const { view } = brief;
  if (view.status === 'pending') {
    const received = brief.approvals.length;
    const progress =
      brief.required > 1
        ? ` (${received} of ${brief.required} so far${received ? `: ${brief.approvals.map((a) => who(a.by)).join(', ')}` : ''})`
        : '';
    return `:raised_hand: *Needs ${brief.required === 1 ? 'an approval' : `${brief.required} approvals from different people`}* from ${approversText(brief)}${progress}. Times out ${when(view.approval!.expiresAt)}.`;
  }
  const by = brief.decidedBy && view.status !== 'timed_out' && view.status !== 'cancelled' ? ` by ${who(brief.decidedBy)}` : '';
  const at = view.decidedAt ? ` ${when(view.decidedAt)}` : '';
  let line = `${STATUS_LINE[view.status] ?? view.status}${by}${at}`;
  if (view.status === 'approved' && brief.approvals.length > 1) line += ` (approvals: ${brief.approvals.map((a) => who(a.by)).join(', ')})`;
  if (view.grant) {
    const g = view.grant;
    const state = g.status === 'active' ? `active until ${when(g.expiresAt)}` : g.status;
    line += `\nGrant: ${e(partsText(g))} for ${e(g.actions.join('/'))}, ${state}.`;
  }
  return line;
}

/** How the request departs from its agent's habits; each detail may quote what the agent asked for, so it is escaped. */
function anomaliesSection(anomalies: { code: string; detail: string }[]): Block[] {
  if (anomalies.length === 0) return [];
  const lines = anomalies.map((a) => `• \`${e(a.code)}\` ${e(a.detail)}`).join('\n');
  return [{ type: 'section', text: { type: 'mrkdwn', text: `*Unusual for this agent*\n${lines}` } }];
}

/** An extension shows the request it continues (and the chain's first), the time already used and the new total. */
export function extensionSection(extension: NonNullable<ApproverBrief['extension']>): Block {
  const first = extension.firstRequestId !== extension.previousRequestId ? ` (first asked in request \`${e(extension.firstRequestId)}\`)` : '';
  const limit = extension.limitSeconds !== null ? ` of ${formatDuration(extension.limitSeconds)} allowed in all` : '';
  return {
    type: 'section',
    text: {
      type: 'mrkdwn',
      text: `:repeat: *Extension* of request \`${e(extension.previousRequestId)}\`${first}: its grant has run ${formatDuration(extension.usedSeconds)} so far; with this request, ${formatDuration(extension.totalSeconds)} in all${limit}. Approving replaces the current grant.`,
    },
  };
}

/** The approval message: who asks what, why, how risky, and the buttons while it is pending. */
export function buildApprovalMessage(brief: ApproverBrief): SlackMessage {
  const { view, agent } = brief;
  const owner = agent.owner ? ` (owner: ${e(agent.owner)})` : '';
  const forWhom = brief.onBehalfOf ? who(brief.onBehalfOf) : '_nobody: the agent acts for itself_';
  const rules = view.decision.rules.length > 0 ? view.decision.rules.map((r) => `\`${e(r)}\``).join(', ') : '_none: the policy default applies_';
  const blocks: Block[] = [
    { type: 'header', text: { type: 'plain_text', text: `Access request: ${agent.name} → ${view.resource}`.slice(0, 150) } },
    { type: 'section', text: { type: 'mrkdwn', text: summary(brief) } },
    ...(brief.extension ? [extensionSection(brief.extension)] : []),
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: `*Agent*\n${e(agent.name)}${owner}` },
        { type: 'mrkdwn', text: `*On behalf of*\n${forWhom}` },
        { type: 'mrkdwn', text: `*Resource*\n\`${e(view.resource)}\`` },
        { type: 'mrkdwn', text: `*Actions*\n${e(view.actions.join(', '))}` },
        { type: 'mrkdwn', text: `*Duration*\n${e(view.duration)}` },
        { type: 'mrkdwn', text: `*Risk score*\n${view.decision.riskScore} / 100` },
      ],
    },
    partsSection(brief),
    ...anomaliesSection(view.decision.anomalies ?? []),
    { type: 'section', text: { type: 'mrkdwn', text: `*Reason*\n>${e(view.reason).replace(/\n/g, '\n>')}` } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `Rules matched: ${rules} · ${e(view.decision.message)} · request \`${e(view.id)}\`` }] },
    { type: 'section', text: { type: 'mrkdwn', text: outcome(brief) } },
  ];
  if (view.status === 'pending') {
    blocks.push({
      type: 'actions',
      block_id: `decide-${view.id}`,
      elements: [
        { type: 'button', action_id: ACTIONS.approve, style: 'primary', text: { type: 'plain_text', text: 'Approve' }, value: view.id },
        { type: 'button', action_id: ACTIONS.deny, style: 'danger', text: { type: 'plain_text', text: 'Deny' }, value: view.id },
        { type: 'button', action_id: ACTIONS.changes, text: { type: 'plain_text', text: 'Approve with changes' }, value: view.id },
      ],
    });
  }
  return { text: summary(brief), blocks };
}

/** The thread reply that records one change; reminders and escalations mention the people concerned. */
export function buildThreadReply(brief: ApproverBrief, event: string): string {
  const { view } = brief;
  const mention = (ids: string[], fallback: string) => (ids.length > 0 ? ids.map((id) => `<@${e(id)}>`).join(' ') : fallback);
  const left = Math.max(0, brief.required - brief.approvals.length);
  switch (event) {
    case 'approval_received': {
      const last = brief.approvals[brief.approvals.length - 1];
      return `Approval ${brief.approvals.length} of ${brief.required} from ${who(last?.by)}. Waiting for ${left} more from ${approversText(brief)}.`;
    }
    case 'reminder':
      return `:bell: Reminder: ${mention(brief.mention.approvers, `*${e(String(brief.approverGroup))}*`)} this request still needs ${left} approval${left === 1 ? '' : 's'}; it times out ${when(view.approval?.expiresAt ?? view.createdAt)}. Approve or deny above.`;
    case 'escalated':
      return `:rotating_light: Escalated to *${e(String(brief.escalation.to))}*: ${mention(brief.mention.escalation, `members of ${e(String(brief.escalation.to))}`)} you may now approve or deny this request; it times out ${when(view.approval?.expiresAt ?? view.createdAt)}.`;
    case 'approved':
      return `:white_check_mark: Approved by ${who(brief.decidedBy)}${view.grant ? `: ${e(partsText(view.grant))} until ${when(view.grant.expiresAt)}` : ''}.`;
    case 'denied':
      return `:no_entry: Denied by ${who(brief.decidedBy)}. The agent gets no access.`;
    case 'timed_out':
      return ':hourglass: Timed out: nobody decided in time. The agent must ask again.';
    case 'cancelled':
      return ':leftwards_arrow_with_hook: The agent cancelled this request; nothing to decide.';
    case 'released':
      return ':checkered_flag: The agent released the grant: its task is done and the token no longer works.';
    case 'revoked':
      return ':octagonal_sign: The grant was revoked by an admin; the token no longer works.';
    case 'expired':
      return ':hourglass_flowing_sand: The grant expired; the token no longer works.';
    case 'superseded':
      return ':repeat: The grant was extended: an approved extension replaced it, and this token no longer works.';
    default:
      return `The request is now ${e(view.status)}.`;
  }
}

/** The "Approve with changes" modal: fewer columns (or operations) and/or a shorter duration. */
export function buildChangesModal(brief: ApproverBrief, origin: { channel?: string }): Record<string, unknown> {
  const http = brief.operations.length > 0;
  const parts = http ? brief.operations : brief.columns;
  const options = parts.map((c) => ({ text: { type: 'plain_text', text: `${c.name} (${c.sensitivity})`.slice(0, 75) }, value: c.name }));
  return {
    type: 'modal',
    callback_id: CHANGES_MODAL,
    private_metadata: JSON.stringify({ requestId: brief.view.id, channel: origin.channel ?? null }),
    title: { type: 'plain_text', text: 'Approve with changes' },
    submit: { type: 'plain_text', text: 'Approve' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: summary(brief) } },
      {
        type: 'input',
        block_id: http ? 'operations' : 'columns',
        label: { type: 'plain_text', text: http ? 'Operations to grant' : 'Columns to grant' },
        element: { type: 'checkboxes', action_id: 'value', options, initial_options: options },
      },
      {
        type: 'input',
        block_id: 'duration',
        label: { type: 'plain_text', text: `Duration (at most ${brief.view.duration})` },
        element: { type: 'plain_text_input', action_id: 'value', initial_value: brief.view.duration },
      },
      {
        type: 'input',
        block_id: 'comment',
        optional: true,
        label: { type: 'plain_text', text: 'Comment' },
        element: { type: 'plain_text_input', action_id: 'value' },
      },
    ],
  };
}

/** The changes modal as submitted: the REST approve body's limits, plus where it came from. */
const changesSubmission = approveBody
  .pick({ duration: true, comment: true })
  .extend({
    requestId: z.string().max(100),
    channel: z.string().max(40).nullable(),
    columns: z.array(z.string().min(1).max(100)).max(500).optional(),
    operations: z.array(z.string().min(1).max(100)).max(500).optional(),
  })
  .strict();

/** Reads the changes modal; a malformed submission is a VALIDATION_FAILED naming the field. */
export function readChangesSubmission(view: {
  private_metadata?: string;
  state?: { values?: Record<string, Record<string, any>> };
}): z.infer<typeof changesSubmission> {
  const foreign = () =>
    new AccessError(AccessErrorCode.VALIDATION_FAILED, 'This form does not come from a Gatehouse message; open it again from the message.');
  let meta: { requestId?: unknown; channel?: unknown };
  try {
    meta = JSON.parse(view.private_metadata || '{}');
  } catch {
    throw foreign();
  }
  // Valid JSON that is not our object ("null", "42", "[]") is just as foreign.
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw foreign();
  const values = view.state?.values ?? {};
  const text = (block: string) => (typeof values[block]?.value?.value === 'string' ? values[block].value.value.trim() || undefined : undefined);
  // The form shows a "columns" block for data, an "operations" block for an HTTP API.
  const checked = (block: string) => {
    const selected = values[block]?.value?.selected_options;
    return values[block] === undefined ? undefined : Array.isArray(selected) ? selected.map((o: { value?: unknown }) => o?.value) : [];
  };
  return parseInput(
    changesSubmission,
    {
      requestId: String(meta.requestId ?? ''),
      channel: typeof meta.channel === 'string' ? meta.channel : null,
      columns: checked('columns') ?? (values.operations === undefined ? [] : undefined),
      operations: checked('operations'),
      duration: text('duration'),
      comment: text('comment'),
    },
    'form',
  );
}

/** The modal block a refusal is about, so Slack shows it next to that field. */
export function modalBlockOf(field: string | undefined): 'columns' | 'operations' | 'duration' | 'comment' {
  if (field?.startsWith('operations')) return 'operations';
  return field === 'duration' || field === 'comment' ? field : 'columns';
}

/** An alert for the alerts channel: a title and its fields, every value escaped. */
export function buildAlertMessage(alert: { title: string; fields: { label: string; value: string }[] }): SlackMessage {
  // Escaped first, then clipped to Slack's limits (2,000 characters a field, 3,000 a section):
  // escaping can multiply the length, and a block over the limit is refused and the alert lost.
  const fields = alert.fields.map((f) => ({ type: 'mrkdwn', text: clipEscaped(`*${e(f.label)}*\n${e(f.value)}`, 2000) }));
  const blocks: Block[] = [{ type: 'section', text: { type: 'mrkdwn', text: clipEscaped(`:rotating_light: *${e(alert.title)}*`, 3000) } }];
  // A section holds at most 10 fields.
  for (let i = 0; i < fields.length; i += 10) blocks.push({ type: 'section', fields: fields.slice(i, i + 10) });
  return { text: alert.title, blocks };
}

/** Escaped mrkdwn cut to `max` characters with an ellipsis, never inside an entity (`&amp;`, `&lt;`, `&gt;`). */
export function clipEscaped(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = max - 1;
  const amp = text.lastIndexOf('&', cut - 1);
  if (amp >= 0 && cut - amp < 5 && text.indexOf(';', amp) >= cut) cut = amp;
  return `${text.slice(0, cut)}…`;
}
