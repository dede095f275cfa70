import { Inject, Injectable, Logger } from '@nestjs/common';
import { Decision, formatDuration, Policy } from '@gatehouse/domain';
import { Database } from '../../db/database';
import { AccessRequestsRepository } from '../../db/access-requests.repository';
import { ALERT_NOTIFIER, AlertNotifier } from '../../notify/alerts';
import { SuspendAgent } from './agent-admin';

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;

/**
 * `defaults.anomaly.suspendAfter`: after a decision the policy denied, or one with anomalies, counts
 * the agent's denied and anomalous decisions within the window (Postgres is the record, so every
 * replica, and one restarted, counts the same) and suspends the agent when either reaches its limit:
 * grants revoked at once and announced to forward-auth, `agent.suspended` audited with actor
 * `gatehouse` and the reason, and an alert raised. An admin resumes it (POST .../resume).
 */
@Injectable()
export class SuspendMisbehavingAgent {
  private readonly logger = new Logger(SuspendMisbehavingAgent.name);

  constructor(
    private readonly db: Database,
    private readonly requests: AccessRequestsRepository,
    private readonly suspend: SuspendAgent,
    @Inject(ALERT_NOTIFIER) private readonly alerts: AlertNotifier,
  ) {}

  /** Never fails the request that was just decided: a failure here is logged, and the next decision counts again. */
  async afterDecision(agent: { id: string; name: string }, decision: Decision, policy: Policy, now: Date): Promise<void> {
    const limits = policy.defaults.anomaly.suspendAfter;
    if (!limits) return;
    const denied = decision.outcome === 'deny' && limits.denied !== undefined;
    const anomalous = decision.anomalies.length > 0 && limits.anomalous !== undefined;
    if (!denied && !anomalous) return;
    try {
      const since = new Date(now.getTime() - limits.withinSeconds * 1000);
      const counts = await this.requests.countMisbehaviour(this.db.pool, agent.id, since);
      const within = formatDuration(limits.withinSeconds);
      const reasons: string[] = [];
      if (limits.denied !== undefined && counts.denied >= limits.denied) reasons.push(`${plural(counts.denied, 'denied request')} within ${within}`);
      if (limits.anomalous !== undefined && counts.anomalous >= limits.anomalous) {
        reasons.push(`${plural(counts.anomalous, 'anomalous request')} within ${within}`);
      }
      if (reasons.length === 0) return;
      const reason = `${reasons.join(' and ')} (defaults.anomaly.suspendAfter)`;
      const result = await this.suspend.execute({ agentId: agent.id, origin: { actor: { kind: 'gatehouse' } }, now, reason });
      if (!result.suspended) return; // another replica (or an admin) was first, and said so
      await this.alerts.raise({
        id: `agent-suspended-${agent.id}-${now.getTime()}`, // BullMQ refuses ":" in job ids
        title: `Agent suspended for its behaviour: ${agent.name}`,
        fields: [
          { label: 'Agent', value: `${agent.name} (${agent.id})` },
          { label: 'Reason', value: reason },
          { label: 'Grants revoked', value: String(result.revokedGrants.length) },
          { label: 'Resume', value: `POST /v1/admin/agents/${agent.id}/resume` },
        ],
      });
    } catch (error) {
      this.logger.error({ msg: 'could not check or suspend a misbehaving agent', agentId: agent.id, error: String(error) });
    }
  }
}
