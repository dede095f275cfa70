import { DynamicModule, Module } from '@nestjs/common';
import { SlackApi } from './slack-api';
import { SlackJobs } from './slack.jobs';
import { SlackInteractions } from './slack.interactions';
import { SlackController } from './slack.controller';
import { SlackMessagesRepository } from './slack-messages.repository';
import { SlackUsers } from './slack-users';

/**
 * Slack approvals: the /slack/events route, Bolt's handlers and the queue processors. Imported only
 * when Slack is configured, so without it the route does not exist (404).
 */
@Module({})
export class SlackModule {
  static forRoot(): DynamicModule {
    return {
      module: SlackModule,
      // Global, so the worker's JobRunner finds SlackJobs without importing Slack where it is off.
      global: true,
      controllers: [SlackController],
      providers: [SlackApi, SlackJobs, SlackInteractions, SlackMessagesRepository, SlackUsers],
      exports: [SlackApi, SlackJobs, SlackMessagesRepository],
    };
  }
}
