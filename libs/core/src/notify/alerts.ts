import { Injectable, Logger } from '@nestjs/common';

/**
 * Something people must see at once, not decide: a break-glass access, an agent suspended for its
 * behaviour. `id` is the alert's identity (the audit event's or the request's id plus a kind), so a
 * repeated raise posts once.
 */
export interface Alert {
  id: string;
  /** One line, plain text written by the broker (e.g. "Break-glass access: support-bot on crm.customers"). */
  title: string;
  /** Label and value pairs; values may hold text an agent wrote, so implementations escape them. */
  fields: { label: string; value: string }[];
}

/** Raises alerts after the change they report is committed. Slack's alerts channel is one implementation. */
export interface AlertNotifier {
  raise(alert: Alert): Promise<void>;
}

export const ALERT_NOTIFIER = Symbol('ALERT_NOTIFIER');

/** With no Slack configured, alerts go to the structured log at warn. */
@Injectable()
export class LogAlertNotifier implements AlertNotifier {
  private readonly logger = new Logger('Alerts');

  async raise(alert: Alert): Promise<void> {
    this.logger.warn({ msg: alert.title, alert: { id: alert.id, ...Object.fromEntries(alert.fields.map((f) => [f.label, f.value])) } });
  }
}
