import type { ApproverBrief } from '@gatehouse/core';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import {
  ACTIONS,
  buildAlertMessage,
  clipEscaped,
  buildApprovalMessage,
  buildChangesModal,
  buildThreadReply,
  modalBlockOf,
  readChangesSubmission,
} from './message';
import { slackTextOf } from './errors';
import { escapeMrkdwn } from './mrkdwn';

const carol = { id: 'carol', displayName: 'Carol', slackUserId: 'UCAROL' };

function brief(overrides: Partial<ApproverBrief> = {}, view: Partial<ApproverBrief['view']> = {}): ApproverBrief {
  return {
    view: {
      id: 'req-1',
      status: 'pending',
      agentId: 'a1',
      resource: 'crm.customers',
      actions: ['read'],
      columns: ['email', 'phone'],
      duration: '15m',
      reason: 'Call the customer back',
      onBehalfOf: 'alice',
      task: null,
      createdAt: '2026-11-21T10:00:00.000Z',
      decision: {
        outcome: 'require_approval',
        rules: ['pii-needs-owner'],
        message: 'Rule pii-needs-owner requires approval by crm-owners.',
        riskScore: 52,
        anomalies: [],
        policyVersion: 'sha256:x',
      },
      approval: { kind: 'approvers', approvers: 'crm-owners', required: 2, received: 0, expiresAt: '2026-11-21T10:15:00.000Z' },
      ...view,
    },
    agent: { id: 'a1', name: 'support-bot', owner: 'team-ai@example.com' },
    onBehalfOf: { id: 'alice', displayName: 'Alice', slackUserId: 'UALICE' },
    columns: [
      { name: 'email', sensitivity: 'pii' },
      { name: 'phone', sensitivity: 'pii' },
    ],
    operations: [],
    approverGroup: 'crm-owners',
    required: 2,
    approvals: [],
    decidedBy: null,
    escalation: { to: 'security', at: null, escalatedAt: null, remindAt: null },
    mention: { approvers: ['UCAROL', 'UDAVE'], escalation: ['USEC'] },
    consent: null,
    ...overrides,
  };
}

const textOf = (m: { text: string; blocks: unknown[] }) => `${m.text}\n${JSON.stringify(m.blocks)}`;

describe('buildApprovalMessage', () => {
  it('shows a pending request with everything an approver decides on, and three buttons', () => {
    const message = buildApprovalMessage(brief());
    const text = textOf(message);
    for (const fragment of [
      'support-bot',
      'team-ai@example.com',
      '<@UALICE>',
      'crm.customers',
      '`email` (pii)',
      '`phone` (pii)',
      '15m',
      'Call the customer back',
      '52 / 100',
      '`pii-needs-owner`',
      '2 approvals from different people',
      '*crm-owners*',
    ]) {
      expect(text).toContain(fragment);
    }
    expect(message.text).toBe(
      'Agent support-bot asks to read crm.customers (email, phone) for 15m on behalf of Alice: needs 2 more approvals from crm-owners. Approve, deny, or approve with changes.',
    );
    const actions = message.blocks.find((b) => b.type === 'actions') as { elements: { action_id: string; value: string }[] };
    expect(actions.elements.map((e) => [e.action_id, e.value])).toEqual([
      [ACTIONS.approve, 'req-1'],
      [ACTIONS.deny, 'req-1'],
      [ACTIONS.changes, 'req-1'],
    ]);
  });

  it('once decided: no buttons, who decided and when, and the grant', () => {
    const message = buildApprovalMessage(
      brief(
        { decidedBy: carol },
        {
          status: 'approved',
          approval: undefined,
          decidedBy: 'user:carol',
          decidedAt: '2026-11-21T10:05:00.000Z',
          grant: {
            id: 'g1',
            status: 'active',
            expiresAt: '2026-11-21T10:20:00.000Z',
            resource: 'crm.customers',
            actions: ['read'],
            columns: ['email'],
          },
        },
      ),
    );
    expect(message.blocks.some((b) => b.type === 'actions')).toBe(false);
    expect(textOf(message)).toContain('*Approved* by <@UCAROL> <!date^1795255500^');
    expect(textOf(message)).toContain('Grant: email for read, active until');
    expect(message.text).toContain('is approved (by Carol)');
  });

  it('says a timed-out request timed out, without naming a decider', () => {
    const message = buildApprovalMessage(
      brief(
        { decidedBy: { id: 'system', displayName: 'system', slackUserId: null } },
        { status: 'timed_out', approval: undefined, decidedBy: 'system', decidedAt: '2026-11-21T10:15:00.000Z' },
      ),
    );
    expect(textOf(message)).toContain('*Timed out*: nobody decided in time; the agent must ask again');
    expect(textOf(message)).not.toContain('by system');
  });

  it("shows an extension: the request it continues, the chain's first, the time used and the new total", () => {
    const extension = {
      grantId: 'g-1',
      previousRequestId: 'req-0',
      firstRequestId: 'req-first',
      usedSeconds: 25 * 60,
      totalSeconds: 40 * 60,
      limitSeconds: 3600,
    };
    const text = textOf(buildApprovalMessage(brief({ extension }, { extends: 'g-1' })));
    expect(text).toContain(
      ':repeat: *Extension* of request `req-0` (first asked in request `req-first`): its grant has run 25m so far; with this request, 40m in all of 1h allowed in all. Approving replaces the current grant.',
    );
    const single = textOf(buildApprovalMessage(brief({ extension: { ...extension, firstRequestId: 'req-0' } })));
    expect(single).toContain('*Extension* of request `req-0`: its grant');
    expect(textOf(buildApprovalMessage(brief()))).not.toContain('Extension');
    expect(buildThreadReply(brief({}, { status: 'approved' }), 'superseded')).toBe(
      ':repeat: The grant was extended: an approved extension replaced it, and this token no longer works.',
    );
  });

  it('names the escalation group once escalated', () => {
    const message = buildApprovalMessage(brief({ escalation: { to: 'security', at: 'x', escalatedAt: '2026-11-21T10:10:00.000Z', remindAt: null } }));
    expect(textOf(message)).toContain('*crm-owners* or *security* (escalated)');
  });
});

describe('text an agent or a person wrote is inert in mrkdwn', () => {
  const PING = '<!channel>';
  const HERE = '<!here>';
  const MENTION = '<@U123>';
  const DISGUISED = '<https://evil.example|bank.example>';
  const hostile = `${PING} urgent: log in at ${DISGUISED} & tell ${MENTION} ${HERE} &amp; done`;
  const escaped =
    '&lt;!channel&gt; urgent: log in at &lt;https://evil.example|bank.example&gt; &amp; tell &lt;@U123&gt; &lt;!here&gt; &amp;amp; done';
  const mallory = { id: 'mallory', displayName: `${HERE} Mallory & <@U999>`, slackUserId: null };
  const hostileBrief = () =>
    brief(
      { agent: { id: 'a1', name: 'support-bot', owner: `${PING} owner` }, onBehalfOf: mallory, decidedBy: mallory },
      {
        reason: hostile,
        task: { id: PING },
        decision: {
          outcome: 'require_approval',
          rules: ['pii-needs-owner'],
          message: `Ask ${MENTION} & co`,
          riskScore: 52,
          anomalies: [],
          policyVersion: 'sha256:x',
        },
      },
    );
  const controlSequences = [PING, HERE, MENTION, DISGUISED, '<@U999>'];

  it('escapes & < > as Slack asks, and only those', () => {
    expect(escapeMrkdwn(hostile)).toBe(escaped);
    expect(escapeMrkdwn('*bold* _it_ `code` ~x~ plain')).toBe('*bold* _it_ `code` ~x~ plain');
  });

  it('in the approval message: fallback text, every mrkdwn block, the reason quoted as typed', () => {
    const message = buildApprovalMessage(hostileBrief());
    const text = textOf(message);
    for (const sequence of controlSequences) expect(text).not.toContain(sequence);
    expect(text).toContain(`>${escaped}`);
    expect(text).toContain('(owner: &lt;!channel&gt; owner)');
    expect(text).toContain('*On behalf of*\\n&lt;!here&gt; Mallory &amp; &lt;@U999&gt;');
    expect(message.text).toContain('on behalf of &lt;!here&gt; Mallory &amp; &lt;@U999&gt;');
    expect(text).toContain('Ask &lt;@U123&gt; &amp; co');
    // our own mentions still work
    expect(buildThreadReply(hostileBrief(), 'reminder')).toContain('<@UCAROL> <@UDAVE>');
  });

  it('in a decided message and its thread replies', () => {
    const decided = buildApprovalMessage(
      brief(
        { onBehalfOf: mallory, decidedBy: mallory },
        { status: 'denied', approval: undefined, decidedBy: 'user:mallory', decidedAt: '2026-11-21T10:05:00.000Z', reason: hostile },
      ),
    );
    for (const sequence of controlSequences) expect(textOf(decided)).not.toContain(sequence);
    expect(decided.text).toContain('(by &lt;!here&gt; Mallory &amp; &lt;@U999&gt;)');
    const reply = buildThreadReply(hostileBrief(), 'denied');
    expect(reply).toBe(':no_entry: Denied by &lt;!here&gt; Mallory &amp; &lt;@U999&gt;. The agent gets no access.');
  });

  it("in the changes modal's mrkdwn section", () => {
    const modal = buildChangesModal(hostileBrief(), { channel: 'C1' }) as { blocks: { type: string; text?: { type: string; text: string } }[] };
    const section = modal.blocks.find((b) => b.type === 'section')!.text!;
    expect(section.type).toBe('mrkdwn');
    for (const sequence of controlSequences) expect(section.text).not.toContain(sequence);
    expect(section.text).toContain('on behalf of &lt;!here&gt; Mallory');
  });

  it('in ephemeral refusals, which quote what was sent', () => {
    const text = slackTextOf(new AccessError(AccessErrorCode.UNKNOWN_COLUMN, `crm.customers has no column "${PING}"; known columns: id.`));
    expect(text).not.toContain(PING);
    expect(text).toBe(':warning: crm.customers has no column "&lt;!channel&gt;"; known columns: id. Nothing was recorded; fix it and try again.');
    expect(slackTextOf(new AccessError(AccessErrorCode.NOT_AN_APPROVER, `Only ${DISGUISED} may decide.`))).toContain(
      'Only &lt;https://evil.example|bank.example&gt; may decide.',
    );
  });
});

describe('buildThreadReply', () => {
  it('mentions the approvers in a reminder and the escalation group on escalation', () => {
    expect(buildThreadReply(brief(), 'reminder')).toContain('Reminder: <@UCAROL> <@UDAVE> this request still needs 2 approvals');
    expect(buildThreadReply(brief(), 'escalated')).toContain('Escalated to *security*: <@USEC> you may now approve or deny');
  });

  it('falls back to the group name when nobody in it has a Slack id', () => {
    expect(buildThreadReply(brief({ mention: { approvers: [], escalation: [] } }), 'reminder')).toContain('Reminder: *crm-owners*');
  });

  it('counts approvals received', () => {
    const reply = buildThreadReply(
      brief({ approvals: [{ by: carol, at: 'x', columns: [], operations: [], durationSeconds: null, comment: null }] }),
      'approval_received',
    );
    expect(reply).toBe('Approval 1 of 2 from <@UCAROL>. Waiting for 1 more from *crm-owners*.');
  });
});

describe('the changes modal', () => {
  it('offers the requested columns and duration, and reads back what was kept', () => {
    const modal = buildChangesModal(brief(), { channel: 'C1' }) as {
      private_metadata: string;
      blocks: { block_id?: string; element?: { options?: { value: string }[] } }[];
    };
    expect(modal.blocks.find((b) => b.block_id === 'columns')!.element!.options!.map((o) => o.value)).toEqual(['email', 'phone']);
    const read = readChangesSubmission({
      private_metadata: modal.private_metadata,
      state: {
        values: {
          columns: { value: { selected_options: [{ value: 'email' }] } },
          duration: { value: { value: ' 5m ' } },
          comment: { value: { value: null } },
        },
      },
    });
    expect(read).toEqual({ requestId: 'req-1', channel: 'C1', columns: ['email'], duration: '5m', comment: undefined });
  });

  it('offers the operations of a request on an HTTP API, and reads back those kept', () => {
    const http = brief(
      {
        columns: [],
        operations: [
          { name: 'read-issues', method: 'GET', path: '/repos/*/*/issues/**', sensitivity: 'internal' },
          { name: 'comment', method: 'POST', path: '/repos/*/*/issues/*/comments', sensitivity: 'pii' },
        ],
      },
      { resource: 'github.issues', actions: ['read', 'write'], columns: [], operations: ['read-issues', 'comment'] },
    );
    const message = textOf(buildApprovalMessage(http));
    expect(message).toContain('read/write github.issues (read-issues, comment) for 15m');
    expect(message).toContain(
      '*Operations*\\n• `read-issues`: GET `/repos/*/*/issues/**` (internal)\\n• `comment`: POST `/repos/*/*/issues/*/comments` (pii)',
    );
    expect(message).not.toContain('*Columns*');
    const modal = buildChangesModal(http, { channel: 'C1' }) as {
      private_metadata: string;
      blocks: { block_id?: string; element?: { options?: { value: string }[] } }[];
    };
    expect(modal.blocks.find((b) => b.block_id === 'columns')).toBeUndefined();
    expect(modal.blocks.find((b) => b.block_id === 'operations')!.element!.options!.map((o) => o.value)).toEqual(['read-issues', 'comment']);
    const read = readChangesSubmission({
      private_metadata: modal.private_metadata,
      state: { values: { operations: { value: { selected_options: [{ value: 'read-issues' }] } }, duration: { value: { value: '5m' } } } },
    });
    expect(read).toEqual({ requestId: 'req-1', channel: 'C1', operations: ['read-issues'], duration: '5m', comment: undefined });
    expect(modalBlockOf('operations[0]')).toBe('operations');
  });

  it('refuses a malformed submission with VALIDATION_FAILED, naming the modal field', () => {
    const refusal = (view: Parameters<typeof readChangesSubmission>[0]) => {
      try {
        readChangesSubmission(view);
      } catch (error) {
        return error as AccessError;
      }
      throw new Error('expected a refusal');
    };
    expect(refusal({ private_metadata: '{not json' }).code).toBe(AccessErrorCode.VALIDATION_FAILED);
    for (const metadata of ['null', '42', '"req-1"', '[]'])
      expect(refusal({ private_metadata: metadata }).code).toBe(AccessErrorCode.VALIDATION_FAILED);
    const meta = JSON.stringify({ requestId: 'req-1', channel: 'C1' });
    const long = refusal({ private_metadata: meta, state: { values: { comment: { value: { value: 'x'.repeat(1001) } } } } });
    expect(long.code).toBe(AccessErrorCode.VALIDATION_FAILED);
    expect(modalBlockOf(long.details[0]?.path)).toBe('comment');
    const odd = refusal({ private_metadata: meta, state: { values: { columns: { value: { selected_options: [{ value: 42 }] } } } } });
    expect(odd.details[0]?.path).toMatch(/^columns/);
  });
});

describe('slackTextOf', () => {
  it('words every refusal for a person, saying nothing was recorded', () => {
    for (const code of Object.values(AccessErrorCode)) {
      const text = slackTextOf(new AccessError(code, 'Because.'));
      expect(text).toMatch(/Nothing (was recorded|changed)|nothing was recorded/);
    }
    expect(slackTextOf(new AccessError(AccessErrorCode.SELF_APPROVAL, 'x'))).toContain('own behalf');
    expect(slackTextOf(new AccessError(AccessErrorCode.USER_NOT_FOUND, 'x'))).toContain('not linked');
  });
});

describe('slackFailure', () => {
  // Shapes as @slack/web-api throws them.
  const { slackFailure } = jest.requireActual('./errors') as typeof import('./errors');
  it('waits Retry-After on a 429, retries 5xx and transient platform errors, gives up on the rest', () => {
    expect(slackFailure({ code: 'slack_webapi_rate_limited_error', retryAfter: 7 })).toEqual({ kind: 'rate_limited', retryAfterSeconds: 7 });
    expect(slackFailure({ code: 'slack_webapi_http_error', statusCode: 500 })).toEqual({ kind: 'retry' });
    expect(slackFailure({ code: 'slack_webapi_request_error' })).toEqual({ kind: 'retry' });
    expect(slackFailure({ code: 'slack_webapi_platform_error', data: { error: 'internal_error' } })).toEqual({ kind: 'retry' });
    expect(slackFailure({ code: 'slack_webapi_platform_error', data: { error: 'channel_not_found' } })).toEqual({
      kind: 'permanent',
      reason: 'Slack said channel_not_found',
    });
  });
});

describe('buildAlertMessage', () => {
  it('shows the title and every field, with text an agent wrote made inert', () => {
    const message = buildAlertMessage({
      title: 'Break-glass access: support-bot on crm.customers',
      fields: [
        { label: 'Reason', value: 'outage <!channel> see <https://evil.example|bank>' },
        { label: 'Agent', value: 'support-bot' },
      ],
    });
    expect(message.text).toBe('Break-glass access: support-bot on crm.customers');
    const shown = JSON.stringify(message.blocks);
    expect(shown).toContain('Break-glass access: support-bot on crm.customers');
    expect(shown).toContain('outage &lt;!channel&gt; see &lt;https://evil.example|bank&gt;');
    expect(shown).not.toContain('<!channel>');
    expect(shown).toContain('*Agent*\\nsupport-bot');
  });
});

describe('alert length', () => {
  it('keeps every block within Slack limits even when escaping multiplies the text, and never cuts an entity', () => {
    const message = buildAlertMessage({ title: '<'.repeat(300), fields: [{ label: 'Reason', value: '<&>'.repeat(1000) }] });
    const [title, section] = message.blocks as any[];
    expect(title.text.text.length).toBeLessThanOrEqual(3000);
    const field = section.fields[0].text as string;
    expect(field.length).toBeLessThanOrEqual(2000);
    expect(field.endsWith('…')).toBe(true);
    expect(field.slice(0, -1)).toMatch(/(&amp;|&lt;|&gt;)$/);
    expect(field).not.toMatch(/[<>]/);
  });

  it('clips at an entity boundary', () => {
    expect(clipEscaped('ab&lt;cd', 5)).toBe('ab…');
    expect(clipEscaped('abcdefgh', 5)).toBe('abcd…');
    expect(clipEscaped('abc', 5)).toBe('abc');
  });
});
