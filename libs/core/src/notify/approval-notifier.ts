import { Injectable, Logger } from '@nestjs/common';
import type { AccessRequestView } from '../usecases/access-request.view';

/** Tells people about requests that need them and about what happened next. Slack is one implementation. */
export interface ApprovalNotifier {
  requestChanged(view: AccessRequestView, event: string): Promise<void>;
  /**
   * Optional repair pass, run by the reconciler on its schedule: put back what a lost job or an
   * emptied Redis dropped (e.g. approval messages never posted). Must be harmless to repeat; a
   * failure is logged by the reconciler, never fatal.
   */
  reconcile?(now: Date): Promise<void>;
  /** Whether this user can be asked, privately, to let an agent act for them (a Slack DM needs a linked user). */
  canAskConsent(user: { id: string; slackUserId: string | null }): boolean;
}

export const APPROVAL_NOTIFIER = Symbol('APPROVAL_NOTIFIER');

/** With no Slack configured, notifications go to the structured log; people decide through the admin API. */
@Injectable()
export class LogApprovalNotifier implements ApprovalNotifier {
  private readonly logger = new Logger('Approvals');

  /** The log reaches no user privately: without Slack, only an admin's delegation proves a user. */
  canAskConsent(): boolean {
    return false;
  }

  async requestChanged(view: AccessRequestView, event: string): Promise<void> {
    const { id, status, resource, actions, columns, operations, duration, reason, onBehalfOf, approval, decision } = view;
    this.logger.log({
      msg: `access request ${event}`,
      event,
      request: {
        id,
        status,
        resource,
        actions,
        columns,
        operations,
        duration,
        reason,
        onBehalfOf,
        approval,
        rules: decision.rules,
        riskScore: decision.riskScore,
      },
    });
  }
}
