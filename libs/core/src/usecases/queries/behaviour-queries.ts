import { Injectable } from '@nestjs/common';
import { AccessError, AccessErrorCode, Anomaly, BaselineSummary, summarizeBaseline, zoneOf } from '@gatehouse/domain';
import { Database } from '../../db/database';
import { AccessRequestsRepository } from '../../db/access-requests.repository';
import { AgentsRepository } from '../../db/agents.repository';
import { BaselinesRepository } from '../../db/baselines.repository';
import { decodeCursor, encodeCursor } from '../../db/pagination';
import { PolicyStore } from '../../policy/policy.store';
import type { Page } from './admin-queries';

/** One anomalous decision in the feed. */
export interface AnomalyFeedItem {
  requestId: string;
  agentId: string;
  resource: string;
  status: string;
  outcome: string;
  riskScore: number;
  anomalies: Anomaly[];
  createdAt: string;
}

/** What the admin API shows of agents' behaviour: the feed of anomalous decisions and each agent's baseline. */
@Injectable()
export class BehaviourQueries {
  constructor(
    private readonly db: Database,
    private readonly requests: AccessRequestsRepository,
    private readonly agents: AgentsRepository,
    private readonly baselines: BaselinesRepository,
    private readonly policy: PolicyStore,
  ) {}

  /** Anomalous decisions, newest first; `cursor` continues from a previous page's nextCursor. */
  async listAnomalies(filter: { agentId?: string; limit: number; cursor?: string }): Promise<Page<AnomalyFeedItem>> {
    const rows = await this.requests.listAnomalous(this.db.pool, {
      agentId: filter.agentId,
      limit: filter.limit,
      before: filter.cursor ? decodeCursor(filter.cursor) : undefined,
    });
    const items = rows.map((r) => ({
      requestId: r.id,
      agentId: r.agentId,
      resource: r.resource,
      status: r.status,
      outcome: r.decision.outcome,
      riskScore: r.riskScore,
      anomalies: r.decision.anomalies ?? [],
      createdAt: r.createdAt.toISOString(),
    }));
    return { items, ...(rows.length === filter.limit ? { nextCursor: encodeCursor(rows[rows.length - 1]) } : {}) };
  }

  /** What is normal for an agent, readable, under the policy in force (its zone and sensitivity order). */
  async baselineOf(agentId: string): Promise<{ agentId: string; minHistory: number } & BaselineSummary> {
    const agent = await this.agents.findById(this.db.client, agentId);
    if (!agent) throw new AccessError(AccessErrorCode.AGENT_NOT_FOUND, `No agent ${agentId}.`);
    const policy = this.policy.current();
    const settings = policy.defaults.anomaly;
    const baseline = await this.baselines.find(this.db.pool, agentId);
    const zone = zoneOf((agent.attributes ?? {}) as Record<string, unknown>, settings);
    return { agentId, minHistory: settings.minHistory, ...summarizeBaseline(baseline, zone, settings, policy.sensitivity) };
  }
}
