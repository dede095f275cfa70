/** Who did something, as recorded in the audit trail and on decisions. */
export type Actor =
  | { kind: 'agent'; id: string }
  | { kind: 'admin'; name: string }
  | { kind: 'user'; id: string; via: 'rest' | 'slack' }
  | { kind: 'system' }
  /** The broker itself acting on what it observed (an agent suspended for its behaviour). */
  | { kind: 'gatehouse' }
  /** A Slack user not linked to any directory user (only ever refused). */
  | { kind: 'slack'; userId: string };

export function actorName(actor: Actor): string {
  switch (actor.kind) {
    case 'agent':
      return `agent:${actor.id}`;
    case 'admin':
      return `admin:${actor.name}`;
    case 'user':
      return `user:${actor.id}`;
    case 'system':
      return 'system';
    case 'gatehouse':
      return 'gatehouse';
    case 'slack':
      return `slack:${actor.userId}`;
  }
}

/** Where a call came from, for the audit trail. */
export interface Origin {
  actor: Actor;
  sourceIp?: string | null;
}
