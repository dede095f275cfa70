import { Injectable } from '@nestjs/common';
import { Database } from '../../db/database';
import { GrantsRepository } from '../../db/grants.repository';
import { RequestEffects } from '../access-requests/request-effects';

/** Grants ended in one statement at most; a larger crowd falling due is ended by the next jobs. */
const BATCH = 200;

/**
 * Ends grants past their expiry. An expiry job ends its own grant and, in the same statement, up to
 * a batch of others also due: ten thousand grants falling due together cost fifty statements, not
 * ten thousand transactions, and the jobs of grants already ended find nothing to do. The write is
 * conditional (still active, past its expiry), so a duplicate job or two workers racing change
 * nothing the second time.
 */
@Injectable()
export class ExpireGrant {
  constructor(
    private readonly db: Database,
    private readonly grants: GrantsRepository,
    private readonly effects: RequestEffects,
  ) {}

  /** 'not_due' means the job ran early (clock drift): the caller schedules it again. */
  async execute(input: { grantId: string; now: Date }): Promise<'expired' | 'unchanged' | 'not_due'> {
    const ended = await this.expireDue(input.now, input.grantId);
    if (ended.some((g) => g.id === input.grantId)) return 'expired';
    const own = await this.grants.statusOf(this.db.pool, input.grantId);
    return own?.status === 'active' && own.expiresAt.getTime() > input.now.getTime() ? 'not_due' : 'unchanged';
  }

  /** Ends a batch of due grants (`first` among them when due) and tells people; returns what it ended. */
  async expireDue(now: Date, first: string | null = null): Promise<{ id: string; requestId: string }[]> {
    const ended = await this.grants.expireDue(this.db.pool, now, BATCH, first);
    if (ended.length > 0)
      await this.effects.grantsEnded(
        ended.map((g) => g.requestId),
        'expired',
        now,
      );
    return ended;
  }
}
