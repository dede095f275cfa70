import { Injectable } from '@nestjs/common';
import { effectiveGrantStatus, GrantStatus, RequestStatus } from '@gatehouse/domain';
import { Database } from '../../db/database';
import { AccessRequestRow, AccessRequestsRepository } from '../../db/access-requests.repository';
import { GrantsRepository } from '../../db/grants.repository';

/** One request of a chain of extensions, with the grant it became. */
export interface ChainLink {
  requestId: string;
  status: RequestStatus;
  /** The grant it extends (absent for the first request of the chain). */
  extends?: string;
  grant: { id: string; status: GrantStatus; issuedAt: string; expiresAt: string } | null;
}

/** Chains are short in practice; a bound keeps a corrupt loop from running forever. */
const MAX_LINKS = 100;

/**
 * A request's chain of extensions, first request first: the requests whose grants it (and they)
 * extended, the request itself, and the approved extensions of its grant after it.
 */
@Injectable()
export class ExtensionChain {
  constructor(
    private readonly db: Database,
    private readonly requests: AccessRequestsRepository,
    private readonly grants: GrantsRepository,
  ) {}

  /** The requests whose grants `row` (and they) extended, first request first; empty for a request that extends nothing. */
  async before(row: AccessRequestRow): Promise<AccessRequestRow[]> {
    const db = this.db.client;
    const rows: AccessRequestRow[] = [];
    for (let current = row; current.extendsGrantId && rows.length < MAX_LINKS;) {
      const extended = await this.grants.findById(db, current.extendsGrantId);
      const earlier = extended && (await this.requests.findById(db, extended.requestId));
      if (!earlier) break;
      rows.unshift(earlier);
      current = earlier;
    }
    return rows;
  }

  async of(row: AccessRequestRow, now: Date): Promise<ChainLink[]> {
    const db = this.db.client;
    const rows: AccessRequestRow[] = [...(await this.before(row)), row];
    for (let current = row; rows.length < MAX_LINKS;) {
      const grant = await this.grants.findByRequestId(db, current.id);
      const next = grant && (await this.requests.findExtensionsOf(db, grant.id)).find((r) => r.status === 'approved');
      const later = next && (await this.requests.findById(db, next.id));
      if (!later) break;
      rows.push(later);
      current = later;
    }
    return Promise.all(
      rows.map(async (r) => {
        const grant = await this.grants.findByRequestId(db, r.id);
        return {
          requestId: r.id,
          status: r.status,
          ...(r.extendsGrantId ? { extends: r.extendsGrantId } : {}),
          grant: grant
            ? {
                id: grant.id,
                status: effectiveGrantStatus(grant, now),
                issuedAt: grant.issuedAt.toISOString(),
                expiresAt: grant.expiresAt.toISOString(),
              }
            : null,
        };
      }),
    );
  }
}
