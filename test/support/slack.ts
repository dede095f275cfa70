import { randomUUID } from 'node:crypto';
import { Broker, call, eventually, putUser, Reply, startBroker } from './broker';
import { createScratchDatabase } from './database';
import { buttonClick, FakeSlack, signedInteraction } from './fake-slack';

export const SIGNING_SECRET = 'test-slack-signing-secret-0123456789';
export const CHANNEL = 'C0APPROVALS';

/**
 * A broker with Slack approvals on, talking to a fresh fake Slack, on a database of its own unless
 * `env` names one: every broker's reconciler acts on every row it sees (as replicas do), so on a
 * shared database it would time out another file's requests and tell its own fake Slack about them.
 */
export async function startSlackBroker(env: Record<string, string> = {}): Promise<{ broker: Broker; fake: FakeSlack }> {
  const fake = await new FakeSlack().start();
  const scratch = env.DATABASE_URL ? undefined : await createScratchDatabase();
  const broker = await startBroker({
    ...(scratch ? { DATABASE_URL: scratch.url } : {}),
    SLACK_BOT_TOKEN: 'xoxb-test-token',
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_APPROVALS_CHANNEL: CHANNEL,
    SLACK_API_URL: fake.url,
    GATEHOUSE_POLICY_FILE: 'test/fixtures/slack-policy.yaml',
    // Queues of its own: another file's broker (other fake Slack, or none) must not run these jobs.
    GATEHOUSE_REDIS_PREFIX: `${process.env.GATEHOUSE_REDIS_PREFIX}_slack_${randomUUID().slice(0, 8)}`,
    ...env,
  });
  if (scratch) {
    const close = broker.close;
    broker.close = async () => {
      await close();
      await scratch.drop();
    };
  }
  return { broker, fake };
}

/** A directory user with a Slack id, both unique to this run. */
export interface Person {
  id: string;
  slack: string;
}

export async function people(broker: Broker, groupsByName: Record<string, string[]>): Promise<Record<string, Person>> {
  const suffix = randomUUID().slice(0, 8);
  const out: Record<string, Person> = {};
  for (const [name, groups] of Object.entries(groupsByName)) {
    const person = { id: `${name}-${suffix}`, slack: `U${name.toUpperCase()}${suffix.toUpperCase()}` };
    await putUser(broker, person.id, groups, { slackUserId: person.slack });
    out[name] = person;
  }
  return out;
}

/** POSTs a signed interaction to /slack/events. */
export function interact(
  broker: Broker,
  payload: unknown,
  options: { timestamp?: number; retryNum?: number; secret?: string; tamper?: (body: string) => string } = {},
): Promise<Reply> {
  const signed = signedInteraction(options.secret ?? SIGNING_SECRET, payload, options);
  const body = options.tamper ? options.tamper(signed.body) : signed.body;
  return call(`${broker.url}/slack/events`, 'POST', { raw: body, headers: signed.headers });
}

/** A click on one of the message's buttons by a Slack user. */
export function click(
  broker: Broker,
  slackUserId: string,
  action: 'approve' | 'deny' | 'changes',
  requestId: string,
  options: { retryNum?: number } = {},
): Promise<Reply> {
  const actionId = { approve: 'gatehouse_approve', deny: 'gatehouse_deny', changes: 'gatehouse_approve_changes' }[action];
  return interact(broker, buttonClick({ slackUserId, actionId, requestId }), options);
}

/** Flattens a message's blocks to its visible text, to check what a person reads. */
export function visibleText(body: { text?: string; blocks?: unknown }): string {
  const parts: string[] = [body.text ?? ''];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'text' && typeof value === 'string') parts.push(value);
        else walk(value);
      }
    }
  };
  walk(body.blocks);
  return parts.join('\n');
}

/** Action ids of the buttons a message shows. */
export function buttons(body: { blocks?: any[] }): string[] {
  return (body.blocks ?? []).filter((b) => b.type === 'actions').flatMap((b) => b.elements.map((e: any) => e.action_id));
}

/** Where Slack shows a request (slack_messages): its channel and ts for one kind of message, or null. */
export async function slackMessage(
  broker: Broker,
  requestId: string,
  kind: 'approvals' | 'requester' | 'consent' = 'approvals',
): Promise<{ channel: string; ts: string } | null> {
  const row = await broker.prisma.slackMessage.findUnique({ where: { requestId_kind: { requestId, kind } } });
  return row ? { channel: row.channel, ts: row.ts } : null;
}

/** The user's answer in the consent direct message (Allow this request / Allow for 8 hours / Refuse). */
export function answerConsent(broker: Broker, slackUserId: string, answer: 'once' | '8h' | 'refuse', requestId: string): Promise<Reply> {
  const actionId = { once: 'gatehouse_consent_once', '8h': 'gatehouse_consent_8h', refuse: 'gatehouse_consent_refuse' }[answer];
  return interact(broker, buttonClick({ slackUserId, actionId, requestId, channel: `D${slackUserId.slice(1)}` }));
}

/** A request's row once its status is `status`: Slack gets its ack before the decision commits. */
export function settledRequest(broker: Broker, id: string, status: string) {
  const row = () => broker.prisma.accessRequest.findUnique({ where: { id } });
  return eventually(async () => ((await row())?.status === status ? row() : undefined));
}

/** The ephemeral notes Slack showed to one user. */
export function ephemeralsTo(fake: FakeSlack, slackUserId: string) {
  return fake.of('chat.postEphemeral').filter((c) => c.body.user === slackUserId);
}
