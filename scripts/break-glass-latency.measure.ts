// Measures the emergency path: how long a break-glass submit takes to answer with its token (beside
// a plain auto-approved submit, which writes one event less and raises no alert), and how long until
// its alert is posted to the alerts channel (through the slackAlert queue job). p50/p90/p99 over N.
// Runs the real broker (API + worker in-process) against the fake Slack, like the e2e specs:
//   npx jest --selectProjects e2e --testMatch '<rootDir>/scripts/break-glass-latency.measure.ts'
// (not matched by the e2e project's own pattern, so CI does not run it). REQUESTS=200 by default.
import { eventually, registerAgent } from '../test/support/broker';
import { LOW_RISK } from '../test/support/flows';
import { startSlackBroker } from '../test/support/slack';

jest.setTimeout(300_000);

const ALERTS = 'C0ALERTS';
const PII = { resource: 'crm.customers', actions: ['read'], columns: ['email'], duration: '1h', reason: 'Outage INC-1', breakGlass: true };

function summary(name: string, samples: number[]): string {
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.ceil(q * samples.length) - 1)];
  return `${name} over ${samples.length}: p50 ${at(0.5).toFixed(1)} ms, p90 ${at(0.9).toFixed(1)} ms, p99 ${at(0.99).toFixed(1)} ms, max ${samples[samples.length - 1].toFixed(1)} ms`;
}

it('break-glass submit and alert latency', async () => {
  const n = Number(process.env.REQUESTS ?? 200);
  const { broker, fake } = await startSlackBroker({ GATEHOUSE_POLICY_FILE: 'test/fixtures/break-glass-policy.yaml', SLACK_ALERTS_CHANNEL: ALERTS });
  try {
    const agent = await registerAgent(broker, { attributes: { oncall: 'true' } });
    const plain: number[] = [];
    const glass: number[] = [];
    const alerted: number[] = [];
    for (let i = 0; i < n; i++) {
      let started = process.hrtime.bigint();
      const low = await agent.call('POST', '/v1/access-requests', LOW_RISK);
      plain.push(Number(process.hrtime.bigint() - started) / 1e6);
      if (low.body.status !== 'approved') throw new Error(`plain ${i}: ${JSON.stringify(low.body)}`);

      // The fake Slack stamps each call with Date.now(): the alert's latency is in wall-clock milliseconds.
      const wall = Date.now();
      started = process.hrtime.bigint();
      const res = await agent.call('POST', '/v1/access-requests', PII);
      glass.push(Number(process.hrtime.bigint() - started) / 1e6);
      if (res.body.status !== 'approved' || !res.body.grant?.token) throw new Error(`break-glass ${i}: ${JSON.stringify(res.body)}`);
      const post = await eventually(async () => fake.of('chat.postMessage', res.body.id).find((c) => c.body.channel === ALERTS), 10_000, 2);
      alerted.push(post.at - wall);
    }
    process.stdout.write(`${summary('plain auto-approve submit -> token', plain)}\n`);
    process.stdout.write(`${summary('break-glass submit -> token', glass)}\n`);
    process.stdout.write(`${summary('break-glass submit -> alert posted', alerted)}\n`);
  } finally {
    await broker.close();
    await fake.stop();
  }
});
