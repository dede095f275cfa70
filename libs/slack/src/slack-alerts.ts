import { Injectable } from '@nestjs/common';
import { Alert, AlertNotifier, LogAlertNotifier, QueueService } from '@gatehouse/core';

/** Alerts go to the log and, through a queue job with the alert's id, to Slack's alerts channel. */
@Injectable()
export class SlackAlertNotifier implements AlertNotifier {
  constructor(
    private readonly queues: QueueService,
    private readonly log: LogAlertNotifier,
  ) {}

  async raise(alert: Alert): Promise<void> {
    await this.log.raise(alert);
    const fields = alert.fields.slice(0, 20).map((f) => ({ label: f.label.slice(0, 60), value: f.value.slice(0, 3000) }));
    await this.queues.add('slackAlert', { id: alert.id, title: alert.title.slice(0, 300), fields });
  }
}
