// Slack approvals: one more transport beside the admin REST API, calling the same use cases.
export * from './message';
export * from './errors';
export * from './slack-api';
export * from './slack.notifier';
export * from './slack.jobs';
export * from './slack.interactions';
export * from './slack.controller';
export * from './slack.module';
export * from './consent-message';
export * from './mrkdwn';
export * from './slack-messages.repository';
export * from './slack-alerts';
