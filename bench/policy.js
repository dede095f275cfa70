// Policy decisions per second: Gatehouse's evaluator against AWS Cedar (@cedar-policy/cedar-wasm,
// in-process, policies pre-parsed) on equivalent rules, at 10 and at 1,000 rules. Both decide the
// same generated requests; the run checks that they agree on every one before it times them.
const path = require('node:path');

const DOMAIN = path.join(__dirname, '..', 'dist', 'apps', 'gatehouse', 'libs', 'domain', 'src', 'index.js');
const SENSITIVITY = ['public', 'internal', 'pii', 'restricted'];
const COLUMNS = { id: 0, name: 1, email: 2, ssn: 3 };
const TEAMS = 7;

/**
 * N rules. `perResource`: over N resources, one in ten forbids restricted columns there, the rest
 * approve short reads of low columns by one team. Otherwise the same rules name no resource (ten
 * resources in all), so every rule must be judged on every request.
 */
function rules(n, perResource) {
  const resources = perResource ? Math.max(1, n) : 10;
  const ours = [];
  const cedar = [];
  for (let i = 0; i < n; i++) {
    const resource = `res-${i % resources}`;
    const ourScope = perResource ? `resources: [${resource}], ` : '';
    const cedarScope = perResource ? `resource == Resource::"${resource}"` : 'resource';
    if (i % 10 === 0) {
      ours.push(
        `  - { id: r-${i}, effect: deny, when: { ${ourScope}sensitivity: { atLeast: restricted }, agentAttributes: { team: t-${i % TEAMS} } } }`,
      );
      cedar.push(`forbid(principal, action, ${cedarScope}) when { principal.team == "t-${i % TEAMS}" && context.sensitivity >= 3 };`);
    } else {
      const team = `t-${i % TEAMS}`;
      ours.push(
        `  - { id: r-${i}, effect: approve, when: { ${ourScope}actions: [read], agentAttributes: { team: ${team} }, sensitivity: { atMost: internal }, duration: { atMost: 30m } } }`,
      );
      cedar.push(
        `permit(principal, action == Action::"read", ${cedarScope}) when { principal.team == "${team}" && context.sensitivity <= 1 && context.duration <= 1800 };`,
      );
    }
  }
  const yaml = [
    'version: 1',
    `sensitivity: [${SENSITIVITY.join(', ')}]`,
    'defaults: { maxDuration: 1h, approvers: security }',
    'resources:',
    ...Array.from({ length: resources }, (_, i) => `  res-${i}: { columns: { id: public, name: internal, email: pii, ssn: restricted } }`),
    'rules:',
    ...ours,
  ].join('\n');
  return { yaml, cedar: cedar.join('\n'), resources };
}

function requests(count, resources, seed = 7) {
  // xorshift32: seeded, so both evaluators and every run see the same requests.
  let x = seed >>> 0 || 1;
  const next = (m) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % m;
  };
  return Array.from({ length: count }, () => {
    // Half the time the team a rule of that resource names, and only low columns: every outcome occurs.
    const k = next(resources);
    const columns = next(2) === 0 ? ['id', 'name'].filter(() => next(2) === 1) : Object.keys(COLUMNS).filter(() => next(2) === 1);
    const picked = columns.length ? columns : ['id'];
    return {
      team: next(2) === 0 ? `t-${k % TEAMS}` : `t-${next(TEAMS)}`,
      resource: `res-${k}`,
      actions: next(4) === 0 ? ['read', 'write'] : ['read'],
      columns: picked,
      sensitivity: Math.max(...picked.map((c) => COLUMNS[c])),
      durationSeconds: [300, 900, 1800, 3600][next(4)],
    };
  });
}

function rate(decide, sample, ms) {
  for (let i = 0; i < 2000; i++) decide(sample[i % sample.length]);
  let done = 0;
  const start = process.hrtime.bigint();
  const until = start + BigInt(ms) * 1_000_000n;
  while (process.hrtime.bigint() < until) {
    for (let i = 0; i < 200; i++) decide(sample[(done + i) % sample.length]);
    done += 200;
  }
  return Math.round(done / (Number(process.hrtime.bigint() - start) / 1e9));
}

async function policyDecisions({
  cases = [
    [10, true],
    [1000, true],
    [1000, false],
  ],
  ms = 2000,
} = {}) {
  const { parsePolicy, evaluatePolicy } = require(DOMAIN);
  const cedar = await import('@cedar-policy/cedar-wasm/nodejs');
  const now = new Date('2026-11-23T10:00:00Z');
  const out = [];
  for (const [n, perResource] of cases) {
    const { yaml, cedar: text, resources } = rules(n, perResource);
    const policy = parsePolicy(yaml, `bench-${n}.yaml`);
    const setId = `bench-${n}-${perResource}`;
    const parsed = cedar.preparsePolicySet(setId, { staticPolicies: text });
    if (parsed.type !== 'success') throw new Error(`cedar refused the policies: ${JSON.stringify(parsed.errors)}`);
    const ours = (r) =>
      evaluatePolicy(policy, {
        agent: { id: 'a', name: 'bench-agent', attributes: { team: r.team } },
        resource: r.resource,
        actions: r.actions,
        columns: r.columns,
        durationSeconds: r.durationSeconds,
        onBehalfOf: null,
        sourceIp: null,
        now,
      }).outcome;
    const theirs = (r) => {
      const answer = cedar.statefulIsAuthorized({
        principal: { type: 'Agent', id: 'a' },
        action: { type: 'Action', id: r.actions.includes('write') ? 'write' : 'read' },
        resource: { type: 'Resource', id: r.resource },
        context: { sensitivity: r.sensitivity, duration: r.durationSeconds },
        preparsedPolicySetId: setId,
        entities: [{ uid: { type: 'Agent', id: 'a' }, attrs: { team: r.team }, parents: [] }],
      });
      if (answer.type !== 'success') throw new Error(JSON.stringify(answer.errors));
      return answer.response.decision;
    };
    const sample = requests(5000, resources);
    const disagreements = sample.filter((r) => (ours(r) === 'approve') !== (theirs(r) === 'allow')).length;
    if (disagreements > 0) throw new Error(`${n} rules: the two disagree on ${disagreements} of ${sample.length} requests`);
    const allowed = sample.filter((r) => ours(r) === 'approve').length;
    const denied = sample.filter((r) => ours(r) === 'deny').length;
    const gatehouse = rate(ours, sample, ms);
    const reference = rate(theirs, sample, ms);
    out.push({
      rules: n,
      rulesNameResources: perResource,
      gatehousePerSecond: gatehouse,
      cedarPerSecond: reference,
      ratio: +(gatehouse / reference).toFixed(2),
      agreedOn: sample.length,
      approved: allowed,
      denied,
    });
  }
  return out;
}

module.exports = { policyDecisions };
