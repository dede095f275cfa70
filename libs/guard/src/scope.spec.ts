import { GrantError, GrantErrorCode } from './errors';
import { allowedColumns, assertAllowed, projectRow } from './scope';

const claims = {
  authorization_details: [
    { type: 'gatehouse_data', identifier: 'crm.customers', actions: ['read'], columns: ['id', 'email'] },
    { type: 'other_type', identifier: 'crm.customers', actions: ['read', 'write'], columns: ['ssn'] },
    { type: 'gatehouse_data', identifier: 'crm.customers', actions: 'read', columns: ['phone'] }, // malformed: ignored
  ],
};
const row = { id: 1, name: 'Ada', email: 'ada@example.com', phone: '+44', ssn: '078-05-1120' };

describe('scope helpers', () => {
  it('projectRow keeps only granted columns and never ones from foreign or malformed details', () => {
    expect(projectRow(row, claims, 'crm.customers')).toEqual({ id: 1, email: 'ada@example.com' });
    expect(projectRow(row, claims)).toEqual({ id: 1, email: 'ada@example.com' });
    expect(projectRow(row, claims, 'billing.invoices')).toEqual({});
  });

  it('projectRow ignores granted columns the row lacks and inherited properties', () => {
    const proto = Object.create({ email: 'inherited' }) as Record<string, unknown>;
    proto.id = 2;
    expect(projectRow(proto, claims, 'crm.customers')).toEqual({ id: 2 });
  });

  it('projectRow wants the resource named when the grant covers several', () => {
    const two = {
      authorizationDetails: [
        { type: 'gatehouse_data', identifier: 'a', actions: ['read'], columns: ['id'] },
        { type: 'gatehouse_data', identifier: 'b', actions: ['read'], columns: ['id'] },
      ],
    };
    expect(() => projectRow(row, two)).toThrow(GrantError);
    expect(projectRow(row, two, 'b')).toEqual({ id: 1 });
  });

  it('allowedColumns unions the details of the resource', () => {
    expect(allowedColumns(claims, 'crm.customers')).toEqual(['id', 'email']);
    expect(allowedColumns({}, 'crm.customers')).toEqual([]);
  });

  it('assertAllowed checks resource and action', () => {
    expect(() => assertAllowed(claims, { resource: 'crm.customers', action: 'read' })).not.toThrow();
    for (const need of [
      { resource: 'crm.customers', action: 'write' },
      { resource: 'crm.deals', action: 'read' },
    ]) {
      try {
        assertAllowed(claims, need);
        throw new Error('allowed');
      } catch (e) {
        expect(e).toBeInstanceOf(GrantError);
        expect({ code: (e as GrantError).code, status: (e as GrantError).status }).toEqual({ code: GrantErrorCode.INSUFFICIENT_SCOPE, status: 403 });
      }
    }
  });

  it('errors render the API shape and an RFC 6750 challenge', () => {
    const e = new GrantError(GrantErrorCode.TOKEN_EXPIRED, 'The grant token has expired; request access again.');
    expect(e.toBody()).toEqual({ error: { code: 'TOKEN_EXPIRED', message: 'The grant token has expired; request access again.', details: [] } });
    expect(e.challenge()).toBe('Bearer error="invalid_token", error_description="The grant token has expired; request access again."');
    expect(new GrantError(GrantErrorCode.INSUFFICIENT_SCOPE, 'no').challenge()).toMatch(/^Bearer error="insufficient_scope"/);
  });
});
