import { Injectable } from '@nestjs/common';
import { Database } from '../../db/database';
import { AccessRequestRow, AccessRequestsRepository } from '../../db/access-requests.repository';
import { AgentsRepository } from '../../db/agents.repository';
import { UsersRepository } from '../../db/users.repository';
import { PolicyStore } from '../../policy/policy.store';
import { AccessRequestView } from '../access-request.view';
import { RequestEffects } from '../access-requests/request-effects';
import { ExtensionChain } from './extension-chain';

/** A person as an approval message shows them: a Slack mention when linked, else the display name. */
export interface PersonRef {
  id: string;
  displayName: string;
  slackUserId: string | null;
}

/** Everything a message to approvers shows about one request, read in one place. */
export interface ApproverBrief {
  view: AccessRequestView;
  agent: { id: string; name: string; owner: string | null };
  onBehalfOf: PersonRef | null;
  /** Each requested column with its sensitivity in the loaded policy. */
  columns: { name: string; sensitivity: string }[];
  /** HTTP resources: each requested operation with its method, path pattern and sensitivity. */
  operations: { name: string; method: string; path: string; sensitivity: string }[];
  approverGroup: string | null;
  required: number;
  approvals: {
    by: PersonRef | { id: string; displayName: string; slackUserId: null };
    at: string;
    columns: string[];
    operations: string[];
    durationSeconds: number | null;
    comment: string | null;
  }[];
  decidedBy: PersonRef | { id: string; displayName: string; slackUserId: null } | null;
  escalation: { to: string | null; at: string | null; escalatedAt: string | null; remindAt: string | null };
  /** The named user's answer when they were asked to let the agent act for them: pending, allowed or refused. */
  consent: 'pending' | 'allowed' | 'refused' | null;
  /** Slack ids to mention: the approver group's linked members, and the escalation group's. */
  mention: { approvers: string[]; escalation: string[] };
  /**
   * An extension of a live grant: the request whose grant it extends, the first request of the
   * chain, the time the chain had run when it was asked, and the total with this request's duration.
   */
  extension?: {
    grantId: string;
    previousRequestId: string;
    firstRequestId: string;
    usedSeconds: number;
    totalSeconds: number;
    limitSeconds: number | null;
  };
}

/** Reads what people need to decide a request (approvers' messages, reminders, the consent question). */
@Injectable()
export class DescribeForApprovers {
  constructor(
    private readonly db: Database,
    private readonly requests: AccessRequestsRepository,
    private readonly agents: AgentsRepository,
    private readonly users: UsersRepository,
    private readonly policy: PolicyStore,
    private readonly effects: RequestEffects,
    private readonly chains: ExtensionChain,
  ) {}

  async execute(requestId: string, now = new Date()): Promise<ApproverBrief | null> {
    const db = this.db.client;
    const row = await this.requests.findById(db, requestId);
    if (!row) return null;
    const [view, agent, approvals] = await Promise.all([
      this.effects.view(requestId, now),
      this.agents.findById(db, row.agentId),
      this.requests.listApprovals(db, requestId),
    ]);
    const userKeys = [...approvals.map((a) => a.approver), row.decidedBy ?? ''].filter((k) => k.startsWith('user:')).map((k) => k.slice(5));
    const people = await this.users.findByIds(db, [...new Set([...userKeys, ...(row.onBehalfOf ? [row.onBehalfOf] : [])])]);
    const byId = new Map(people.map((u) => [u.id, { id: u.id, displayName: u.displayName, slackUserId: u.slackUserId }]));
    const person = (key: string) => (key.startsWith('user:') && byId.get(key.slice(5))) || { id: key, displayName: key, slackUserId: null };
    const groups = [row.approverGroup, row.escalateTo].filter((g): g is string => !!g && g !== 'requester');
    const linked = groups.length > 0 ? await this.users.findSlackLinkedInGroups(db, groups) : [];
    const membersOf = (group: string | null) =>
      linked.filter((u) => group && u.groups.includes(group) && u.id !== row.onBehalfOf).map((u) => u.slackUserId!);
    const requester = row.onBehalfOf ? (byId.get(row.onBehalfOf) ?? null) : null;
    const resource = this.policy.current().resources[row.resource];
    const extension = row.extendsGrantId ? await this.extensionOf(row) : undefined;
    return {
      ...(extension && { extension }),
      view,
      agent: { id: row.agentId, name: agent?.name ?? row.agentId, owner: agent?.owner ?? null },
      onBehalfOf: requester,
      columns: row.columns.map((name) => ({ name, sensitivity: resource?.columns[name] ?? resource?.defaultSensitivity ?? 'unknown' })),
      operations: row.operations.map((name) => {
        const operation = resource?.operations[name];
        return { name, method: operation?.method ?? '?', path: operation?.path ?? '?', sensitivity: operation?.sensitivity ?? 'unknown' };
      }),
      approverGroup: row.approverGroup,
      required: row.requiredApprovals,
      approvals: approvals.map((a) => ({
        by: person(a.approver),
        at: a.createdAt.toISOString(),
        columns: a.columns,
        operations: a.operations,
        durationSeconds: a.durationSeconds,
        comment: a.comment,
      })),
      decidedBy: row.decidedBy ? person(row.decidedBy) : null,
      consent: row.consent,
      escalation: {
        to: row.escalateTo,
        at: row.escalateAt?.toISOString() ?? null,
        escalatedAt: row.escalatedAt?.toISOString() ?? null,
        remindAt: row.remindAt?.toISOString() ?? null,
      },
      mention: {
        approvers: row.approverGroup === 'requester' ? (requester?.slackUserId ? [requester.slackUserId] : []) : membersOf(row.approverGroup),
        escalation: membersOf(row.escalateTo),
      },
    };
  }

  private async extensionOf(row: AccessRequestRow): Promise<ApproverBrief['extension']> {
    // Only what comes before matters here: the request whose grant this extends, and the chain's first.
    const earlier = await this.chains.before(row);
    const usedSeconds =
      row.decision.extension?.usedSeconds ?? Math.floor((row.createdAt.getTime() - (row.chainStartedAt ?? row.createdAt).getTime()) / 1000);
    return {
      grantId: row.extendsGrantId!,
      previousRequestId: earlier.at(-1)?.id ?? row.id,
      firstRequestId: earlier[0]?.id ?? row.id,
      usedSeconds,
      totalSeconds: usedSeconds + row.decision.durationSeconds,
      limitSeconds: row.decision.extension?.limitSeconds ?? null,
    };
  }
}
