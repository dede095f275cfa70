import { Injectable } from '@nestjs/common';
import { Database } from '../../db/database';
import { AuditEventsRepository } from '../../db/audit-events.repository';
import { KeyService } from '../../keys/key.service';
import { Origin, actorName } from '../actor';

/** An admin replaces the broker's signing key; the trail says who, and which key replaced which. */
@Injectable()
export class RotateSigningKey {
  constructor(
    private readonly db: Database,
    private readonly keys: KeyService,
    private readonly audit: AuditEventsRepository,
  ) {}

  async execute(input: { origin: Origin }): Promise<{ kid: string; previousKid: string | null }> {
    const rotated = await this.db.transaction(async (tx) => {
      const result = await this.keys.rotateIn(tx);
      await this.audit.append(tx, [
        { type: 'key.rotated', actor: actorName(input.origin.actor), sourceIp: input.origin.sourceIp, data: { from: result.from, to: result.to } },
      ]);
      return result;
    });
    await this.keys.reload();
    return { kid: rotated.to, previousKid: rotated.from };
  }
}
