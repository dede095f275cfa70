import { AccessErrorCode } from '../errors';
import { parsePolicy } from './parse';
import { columnSensitivity, highestSensitivity, resolveScope } from './scope';
import { thrown } from '../testing';

const policy = parsePolicy(
  `version: 1
resources:
  crm.customers:
    defaultSensitivity: internal
    columns: { id: public, name: internal, email: pii, phone: pii, ssn: restricted }
  billing.invoices:
    columns: { id: public, amount: internal }
    actions: [read]
  wiki.pages: { defaultSensitivity: internal }
`,
  'scope.yaml',
);

describe('resolveScope', () => {
  it('gives every listed column, in listed order, when columns are omitted', () => {
    const scope = resolveScope(policy, { resource: 'crm.customers', actions: ['read'] });
    expect(scope.resource.id).toBe('crm.customers');
    expect(scope.actions).toEqual(['read']);
    expect(scope.columns).toEqual(['id', 'name', 'email', 'phone', 'ssn']);
  });

  it('deduplicates actions and columns, keeping first-seen order', () => {
    const scope = resolveScope(policy, { resource: 'crm.customers', actions: ['write', 'read', 'write'], columns: ['phone', 'email', 'phone'] });
    expect(scope.actions).toEqual(['write', 'read']);
    expect(scope.columns).toEqual(['phone', 'email']);
  });

  it('refuses an unknown resource and lists the known ones', () => {
    const error = thrown(() => resolveScope(policy, { resource: 'crm.customer', actions: ['read'] }));
    expect(error.code).toBe(AccessErrorCode.UNKNOWN_RESOURCE);
    expect(error.message).toBe('Unknown resource "crm.customer"; known resources: crm.customers, billing.invoices, wiki.pages.');
  });

  it('does not mistake inherited object properties for resources or columns', () => {
    expect(thrown(() => resolveScope(policy, { resource: 'constructor', actions: ['read'] })).code).toBe(AccessErrorCode.UNKNOWN_RESOURCE);
    expect(thrown(() => resolveScope(policy, { resource: 'crm.customers', actions: ['read'], columns: ['toString'] })).code).toBe(
      AccessErrorCode.UNKNOWN_COLUMN,
    );
  });

  it('refuses actions the resource does not allow, one detail each', () => {
    const error = thrown(() => resolveScope(policy, { resource: 'billing.invoices', actions: ['read', 'write', 'delete', 'write'] }));
    expect(error.code).toBe(AccessErrorCode.ACTION_NOT_ALLOWED);
    expect(error.details).toEqual([
      { path: 'actions[1]', message: '"write" is not allowed on billing.invoices; allowed: read' },
      { path: 'actions[2]', message: '"delete" is not allowed on billing.invoices; allowed: read' },
    ]);
    expect(error.message).toBe('billing.invoices does not allow "write", "delete"; ask for one of: read.');
  });

  it('refuses unknown columns, one detail per column with its index', () => {
    const error = thrown(() => resolveScope(policy, { resource: 'crm.customers', actions: ['read'], columns: ['email', 'dob', 'salary'] }));
    expect(error.code).toBe(AccessErrorCode.UNKNOWN_COLUMN);
    expect(error.details).toEqual([
      { path: 'columns[1]', message: 'crm.customers has no column "dob"' },
      { path: 'columns[2]', message: 'crm.customers has no column "salary"' },
    ]);
    expect(error.message).toContain('known columns: id, name, email, phone, ssn');
  });

  it('refuses an explicitly empty column list', () => {
    const error = thrown(() => resolveScope(policy, { resource: 'crm.customers', actions: ['read'], columns: [] }));
    expect(error.code).toBe(AccessErrorCode.VALIDATION_FAILED);
    expect(error.message).toBe('columns must not be empty; omit it to ask for every column.');
  });

  it('refuses an empty action list', () => {
    expect(thrown(() => resolveScope(policy, { resource: 'crm.customers', actions: [] })).code).toBe(AccessErrorCode.VALIDATION_FAILED);
  });

  it('accepts any column on a resource that lists none', () => {
    expect(resolveScope(policy, { resource: 'wiki.pages', actions: ['read'] }).columns).toEqual([]);
    expect(resolveScope(policy, { resource: 'wiki.pages', actions: ['read'], columns: ['title'] }).columns).toEqual(['title']);
  });
});

describe('columnSensitivity and highestSensitivity', () => {
  it('reads a column label, by resource id or resource', () => {
    expect(columnSensitivity(policy, 'crm.customers', 'email')).toBe('pii');
    expect(columnSensitivity(policy, policy.resources['crm.customers'], 'id')).toBe('public');
  });

  it('rates an unlisted column with the resource default', () => {
    expect(columnSensitivity(policy, 'wiki.pages', 'title')).toBe('internal');
  });

  it('finds the highest label among columns', () => {
    expect(highestSensitivity(policy, 'crm.customers', ['id'])).toBe('public');
    expect(highestSensitivity(policy, 'crm.customers', ['id', 'name'])).toBe('internal');
    expect(highestSensitivity(policy, 'crm.customers', ['phone', 'id', 'name'])).toBe('pii');
    expect(highestSensitivity(policy, 'crm.customers', ['name', 'ssn', 'email'])).toBe('restricted');
  });

  it('uses the default when there are no columns', () => {
    expect(highestSensitivity(policy, 'wiki.pages', [])).toBe('internal');
  });

  it('refuses an unknown resource', () => {
    expect(thrown(() => highestSensitivity(policy, 'nope', ['id'])).code).toBe(AccessErrorCode.UNKNOWN_RESOURCE);
  });
});
