import { Injectable, Logger } from '@nestjs/common';
import { RedisService } from '../redis/redis.service';

/**
 * Tells every process that an agent changed (suspended, resumed, re-keyed), so that what they keep
 * in memory about it is dropped. The process that made the change drops it at once; the others
 * through Redis pub/sub within milliseconds. A message lost while Redis is away is covered by a
 * reset on reconnect, and Postgres stays the truth for every write (see the submit statement).
 */
@Injectable()
export class AgentChanges {
  private readonly logger = new Logger(AgentChanges.name);
  private readonly changedListeners = new Set<(agentId: string) => void>();
  private readonly resetListeners = new Set<() => void>();
  private subscribed = false;

  constructor(private readonly redis: RedisService) {}

  private get channel(): string {
    return this.redis.key('agent-changed');
  }

  /** Calls `onChanged` for every agent changed anywhere, `onReset` when messages may have been lost. */
  listen(onChanged: (agentId: string) => void, onReset: () => void): void {
    this.changedListeners.add(onChanged);
    this.resetListeners.add(onReset);
    if (this.subscribed) return;
    this.subscribed = true;
    const sub = this.redis.subscriberConnection();
    sub.on('message', (channel: string, agentId: string) => {
      if (channel === this.channel) for (const listener of this.changedListeners) listener(agentId);
    });
    sub.on('ready', () => {
      for (const listener of this.resetListeners) listener();
    });
    sub.subscribe(this.channel).catch((error: unknown) => this.logger.warn(`cannot subscribe to agent changes yet: ${error}`));
  }

  /** After the change committed: forget it here now, and everywhere else. */
  async changed(agentId: string): Promise<void> {
    for (const listener of this.changedListeners) listener(agentId);
    await this.redis.client
      .publish(this.channel, agentId)
      .catch((error: unknown) => this.logger.warn(`could not announce agent ${agentId} changed: ${error}`));
  }
}
