import fc from 'fast-check';
import { formatDuration } from '@gatehouse/domain';
import { Broker, putUser, registerAgent, TestAgent } from '../support/broker';
import { delegate } from '../support/flows';
import { FakeSlack } from '../support/fake-slack';
import { people, startSlackBroker } from '../support/slack';

// A dry run is what a submit would decide. Over many generated requests (valid and not, acting for
// nobody, for a delegated user, for a user to ask, for one who cannot be asked, for nobody known;
// some as break-glass, which the fixture admits only for the delegated executive),
// the dry run and a real submit of the same body give the same status, decision and approval, or
// the same refusal.

/** The fixture's resources and their columns (crm.secrets does not exist). */
const RESOURCES: Record<string, string[]> = {
  'crm.customers': ['id', 'name', 'email', 'phone', 'ssn'],
  'crm.deals': ['id', 'amount', 'stage'],
  'support.tickets': ['id', 'subject', 'body'],
  'finance.forecast': ['quarter', 'revenue'],
  'crm.secrets': ['id'],
};
const DURATIONS = ['30s', '10m', '25m', '45m', '2h', 'PT15M', '400d', '0m', 'abc'];

describe('dry run parity with submit', () => {
  let broker: Broker;
  let fake: FakeSlack;
  let agent: TestAgent;
  let onBehalf: string[];

  beforeAll(async () => {
    ({ broker, fake } = await startSlackBroker());
    agent = await registerAgent(broker);
    const p = await people(broker, { delegated: ['executives'], askable: ['support'] });
    await delegate(broker, agent, p.delegated.id, { resources: ['crm.*', 'finance.*'] });
    const unlinked = `unlinked-${Date.now()}`;
    await putUser(broker, unlinked, ['crm-owners']);
    onBehalf = [p.delegated.id, p.askable.id, unlinked, 'nobody-known@example.com'];
  });
  afterAll(async () => {
    await broker.close();
    await fake.stop();
  });

  it('agrees on every generated request', async () => {
    // Mostly columns of the resource (or none: every column), now and then one it does not have.
    const columnsOf = (resource: string) =>
      fc.oneof({ weight: 6, arbitrary: fc.subarray(RESOURCES[resource], { minLength: 1 }) }, { weight: 1, arbitrary: fc.constant(['shoe_size']) });
    const request = fc.constantFrom(...Object.keys(RESOURCES)).chain((resource) =>
      fc.record(
        {
          resource: fc.constant(resource),
          actions: fc.oneof(
            { weight: 5, arbitrary: fc.constant(['read']) },
            { weight: 2, arbitrary: fc.subarray(['read', 'write', 'delete'], { minLength: 1 }) },
          ),
          columns: columnsOf(resource),
          duration: fc.constantFrom(...DURATIONS),
          reason: fc.constant('parity check'),
          onBehalfOf: fc.constantFrom(0, 1, 2, 3).map((i) => onBehalf[i]),
          // Admitted only for the delegated executive; refused for an unproven user or nobody.
          breakGlass: fc.boolean(),
        },
        { requiredKeys: ['resource', 'actions', 'duration', 'reason'] },
      ),
    );
    let submitted = 0;
    await fc.assert(
      fc.asyncProperty(request, async (body) => {
        const dry = await broker.admin('POST', '/v1/admin/policy/evaluate', { ...body, agentId: agent.id });
        const real = await agent.call('POST', '/v1/access-requests', body);
        if (real.status !== 201) {
          expect({ status: dry.status, code: dry.body.error?.code }).toEqual({ status: real.status, code: real.body.error.code });
          return;
        }
        submitted++;
        const stored = (await broker.prisma.accessRequest.findUniqueOrThrow({ where: { id: real.body.id } })).decision as { durationSeconds: number };
        expect(dry.status).toBe(200);
        expect({
          status: dry.body.status,
          decision: dry.body.decision,
          duration: dry.body.duration,
          columns: dry.body.columns,
          actions: dry.body.actions,
        }).toEqual({
          status: real.body.status,
          decision: real.body.decision,
          duration: formatDuration(stored.durationSeconds),
          columns: real.body.columns,
          actions: real.body.actions,
        });
        const approval = real.body.approval
          ? { kind: real.body.approval.kind, approvers: real.body.approval.approvers, required: real.body.approval.required }
          : undefined;
        expect(dry.body.approval).toEqual(approval);
      }),
      { numRuns: 250, seed: 20261122 },
    );
    // The generator reaches every kind of outcome, not only refusals.
    expect(submitted).toBeGreaterThan(20);
    const statuses = await broker.prisma.accessRequest.groupBy({ by: ['status'], where: { agentId: agent.id }, _count: { _all: true } });
    expect(statuses.map((s) => s.status).sort()).toEqual(['approved', 'denied', 'pending']);
    expect(await broker.prisma.accessRequest.count({ where: { agentId: agent.id, breakGlass: true, status: 'approved' } })).toBeGreaterThan(0);
  }, 60_000);
});
