// Measures the time from a signed Slack click arriving at /slack/events to the waiting agent's
// long-poll (GET /v1/access-requests/{id}?wait=30) returning the token: p50 and p99 over N clicks.
// Runs the real broker (API + worker in-process) against the fake Slack, like the e2e specs:
//   npx jest --selectProjects e2e --testMatch '<rootDir>/scripts/slack-click-latency.measure.ts'
// (not matched by the e2e project's own pattern, so CI does not run it). CLICKS=100 by default.
import { registerAgent } from '../test/support/broker';
import { askFor, PII } from '../test/support/flows';
import { click, people, startSlackBroker } from '../test/support/slack';
import { eventually } from '../test/support/broker';

jest.setTimeout(300_000);

it('click -> token latency', async () => {
  const clicks = Number(process.env.CLICKS ?? 100);
  const { broker, fake } = await startSlackBroker();
  try {
    const agent = await registerAgent(broker);
    const { owner } = await people(broker, { owner: ['crm-owners'] });
    const samples: number[] = [];
    for (let i = 0; i < clicks; i++) {
      const req = await askFor(agent, 'pending', PII);
      await eventually(() => broker.prisma.slackMessage.findUnique({ where: { requestId_kind: { requestId: req.id, kind: 'approvals' } } }));
      const waiting = agent.call('GET', `/v1/access-requests/${req.id}?wait=30`);
      await new Promise((r) => setTimeout(r, 20)); // let the long-poll subscribe first
      const started = process.hrtime.bigint();
      const clicked = click(broker, owner.slack, 'approve', req.id);
      const answer = await waiting;
      const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
      await clicked;
      if (answer.body.status !== 'approved' || !answer.body.grant?.token) throw new Error(`click ${i}: ${JSON.stringify(answer.body)}`);
      samples.push(elapsed);
    }
    samples.sort((a, b) => a - b);
    const at = (q: number) => samples[Math.min(samples.length - 1, Math.ceil(q * samples.length) - 1)];
    const line = `click -> token over ${samples.length} clicks: p50 ${at(0.5).toFixed(1)} ms, p90 ${at(0.9).toFixed(1)} ms, p99 ${at(0.99).toFixed(1)} ms, max ${samples[samples.length - 1].toFixed(1)} ms`;
    process.stdout.write(`${line}\n`);
    expect(fake.of('chat.postEphemeral')).toHaveLength(0);
  } finally {
    await broker.close();
    await fake.stop();
  }
});
