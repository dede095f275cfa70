import { z } from 'zod';
import { AccessError, AccessErrorCode, dottedPath, findUnstorableText } from '@gatehouse/domain';

/**
 * Refuses input holding text Postgres cannot store (NUL, a lone surrogate), in any value or key at
 * any depth, with a VALIDATION_FAILED naming the path: `{"path": "task.note", "message": "contains a NUL..."}`.
 */
export function refuseUnstorableText(value: unknown, what = 'request body'): void {
  const found = findUnstorableText(value);
  if (!found) return;
  const path = dottedPath(found.path);
  const detail = path ? { path, message: found.reason } : { message: found.reason };
  throw new AccessError(AccessErrorCode.VALIDATION_FAILED, `The ${what} is invalid: ${path ? `${path}: ` : ''}${found.reason}`, [detail]);
}

/** Parses input with a zod schema; on failure a VALIDATION_FAILED error lists every bad field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what = 'request body'): z.infer<S> {
  if (value === undefined && what === 'request body') {
    throw new AccessError(AccessErrorCode.VALIDATION_FAILED, 'The request has no JSON body: send one with Content-Type: application/json.');
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details = result.error.issues.map((issue) => ({
    path: issue.path.length ? issue.path.map(String).join('.') : undefined,
    message: issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : issue.message,
  }));
  const first = details[0];
  throw new AccessError(AccessErrorCode.VALIDATION_FAILED, `The ${what} is invalid: ${first.path ? `${first.path}: ` : ''}${first.message}`, details);
}

const text = (max: number) => z.string().trim().min(1).max(max);
const identifier = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9_.:*@+-]+$/, 'use letters, digits and . _ : @ + -');

/** POST /v1/access-requests */
export const accessRequestBody = z
  .object({
    resource: identifier,
    actions: z.array(z.string().min(1).max(50)).min(1).max(20),
    columns: z.array(z.string().min(1).max(100)).max(500).optional(),
    operations: z.array(z.string().min(1).max(100)).max(200).optional(),
    duration: z.string().min(1).max(40),
    reason: z.string().trim().min(1, 'reason is required: say why the task needs this access').max(1000),
    onBehalfOf: z.string().min(1).max(320).optional(),
    task: z.record(z.string().max(100), z.union([z.string().max(1000), z.number(), z.boolean(), z.null()])).optional(),
    breakGlass: z
      .boolean()
      .optional()
      .describe(
        "Emergencies only: approved at once (for at most the policy's breakGlass.maxDuration) where people would be asked, never past a deny; " +
          'only for agents and users breakGlass.allowed admits (else 403 BREAK_GLASS_NOT_ALLOWED). Alerted, and reviewed by a person afterwards.',
      ),
  })
  .strict();
export type AccessRequestBody = z.infer<typeof accessRequestBody>;

/** POST /v1/grants/{id}/extend: how much longer, and why. */
export const extendGrantBody = accessRequestBody.pick({ duration: true, reason: true }).strict();
export type ExtendGrantBody = z.infer<typeof extendGrantBody>;

/** POST /v1/admin/policy/evaluate: an access request as if sent by `agentId`. */
export const evaluateBody = accessRequestBody
  .extend({
    agentId: z.uuid(),
    sourceIp: z.union([z.ipv4(), z.ipv6()]).optional(),
    at: z.iso.datetime().optional(),
    /** As an extension of a grant whose chain has run `used` (`0s`, `50m`): the `extension` fact and the chain's total. */
    extends: z
      .object({ used: z.string().min(1).max(40) })
      .strict()
      .optional(),
  })
  .strict();

/** Bytes in each coordinate of the curves agents may use (RFC 8037, RFC 7518 6.2.1.2). */
const COORDINATE_BYTES = 32;

/** Why a JWK coordinate is not `bytes` bytes of unpadded base64url, or undefined when it is. */
function coordinateProblem(value: unknown, bytes: number): string | undefined {
  if (typeof value !== 'string') return undefined; // the shape check already says so
  const length = Math.ceil((bytes * 4) / 3);
  if (!/^[A-Za-z0-9_-]*$/.test(value)) return `must be base64url (letters, digits, - and _, no padding) of ${bytes} bytes`;
  // Node decodes leniently; a canonical value round-trips to itself.
  if (value.length !== length || Buffer.from(value, 'base64url').toString('base64url') !== value) {
    return `must be ${bytes} bytes in base64url (${length} characters); this is ${value.length} characters`;
  }
  return undefined;
}

const jwk = z
  .object({ kty: z.enum(['OKP', 'EC']), crv: z.enum(['Ed25519', 'P-256']), x: z.string().min(1).max(200), y: z.string().max(200).optional() })
  .catchall(z.unknown())
  .superRefine((key, ctx) => {
    // Ed25519: x is the 32-byte public key; P-256: x and y are 32-byte coordinates.
    const x = coordinateProblem(key.x, COORDINATE_BYTES);
    if (x) ctx.addIssue({ code: 'custom', path: ['x'], message: x });
    if (key.crv !== 'P-256') return;
    if (key.y === undefined) ctx.addIssue({ code: 'custom', path: ['y'], message: 'a P-256 key needs y' });
    const y = coordinateProblem(key.y, COORDINATE_BYTES);
    if (y) ctx.addIssue({ code: 'custom', path: ['y'], message: y });
  });

/** POST /v1/admin/agents */
export const registerAgentBody = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a name of 1-64 letters, digits, . _ -'),
    publicJwk: jwk,
    attributes: z.record(z.string().max(100), z.union([z.string().max(200), z.number(), z.boolean()])).optional(),
    owner: text(320).optional(),
  })
  .strict();

/** PUT /v1/admin/agents/{id}/key */
export const rotateAgentKeyBody = z.object({ publicJwk: jwk }).strict();

/** PUT /v1/admin/users/{id} */
export const userBody = z
  .object({
    email: z.email().max(320),
    displayName: text(200),
    slackUserId: z
      .string()
      .regex(/^[UW][A-Z0-9]{2,20}$/, 'a Slack user id like U012ABCDEF')
      .nullable()
      .optional(),
    groups: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)).max(100),
  })
  .strict();
export const userId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/, 'a user id of letters, digits and . _ @ + -');

/** PUT /v1/admin/agents/{id}/delegations/{userId}: every resource, until ended, unless narrowed. */
export const delegationBody = z
  .object({
    resources: z
      .array(
        z
          .string()
          .min(1)
          .max(200)
          .regex(/^[A-Za-z0-9._*-]+$/, 'a resource id or a glob like crm.*'),
      )
      .min(1, 'must not be empty; omit it to delegate every resource')
      .max(100)
      .optional(),
    expiresAt: z.iso.datetime({ offset: true, error: 'expected an ISO 8601 time like 2026-12-01T18:00:00Z' }).optional(),
  })
  .strict();
/** GET /v1/admin/agents/{id}/delegations */
export const delegationsQuery = z.object({ status: z.enum(['live', 'all']).default('live') }).strict();

/** POST /v1/admin/access-requests/{id}/approve */
export const approveBody = z
  .object({
    asUser: userId.optional(),
    duration: z.string().min(1).max(40).optional(),
    columns: z.array(z.string().min(1).max(100)).min(1).max(500).optional(),
    operations: z.array(z.string().min(1).max(100)).min(1).max(200).optional(),
    comment: text(1000).optional(),
  })
  .strict();
/** POST /v1/admin/access-requests/{id}/deny */
export const denyBody = z.object({ asUser: userId.optional(), comment: text(1000).optional() }).strict();
/** POST /v1/admin/access-requests/{id}/acknowledge */
export const acknowledgeBody = z.object({ comment: z.string().trim().min(1, 'comment is required: say what you checked').max(1000) }).strict();
/** POST /v1/admin/grants/{id}/revoke */
export const revokeBody = z.object({ reason: text(1000) }).strict();

const limit = z.coerce.number().int().min(1).max(200).default(50);
export const listRequestsQuery = z
  .object({
    status: z.enum(['pending', 'approved', 'denied', 'cancelled', 'timed_out']).optional(),
    agentId: z.uuid().optional(),
    resource: identifier.optional(),
    limit,
    cursor: z.string().max(200).optional(),
  })
  .strict();
export const listGrantsQuery = z
  .object({
    status: z.enum(['active', 'expired', 'released', 'revoked', 'superseded']).optional(),
    agentId: z.uuid().optional(),
    limit,
    cursor: z.string().max(200).optional(),
  })
  .strict();
/** Largest audit event id: Postgres bigint, 2^63-1. */
const MAX_AUDIT_ID = 2n ** 63n - 1n;
const auditCursor = z
  .string()
  .regex(/^\d{1,19}$/, 'an audit event id (digits), as nextCursor gave it')
  // zod runs refinements after a failed regex too: only digits reach BigInt.
  .refine((value) => !/^\d+$/.test(value) || BigInt(value) <= MAX_AUDIT_ID, 'beyond the largest audit event id (2^63-1)');
export const listAuditQuery = z
  .object({
    requestId: z.uuid().optional(),
    agentId: z.uuid().optional(),
    type: z.string().max(100).optional(),
    limit,
    cursor: auditCursor.optional(),
  })
  .strict();
/** GET /v1/admin/reviews: break-glass accesses waiting for a person (open), or those acknowledged. */
export const listReviewsQuery = z
  .object({ status: z.enum(['open', 'acknowledged']).default('open'), limit, cursor: z.string().max(200).optional() })
  .strict();
export const pageQuery = z.object({ limit, cursor: z.string().max(200).optional() }).strict();
/** GET /v1/admin/anomalies: newest first, optionally of one agent. */
export const anomaliesQuery = z.object({ agentId: z.uuid().optional(), limit, cursor: z.string().max(200).optional() }).strict();
export const waitQuery = z.object({ wait: z.coerce.number().int().min(0).max(60).default(0) }).strict();
export const uuidParam = z.uuid();
