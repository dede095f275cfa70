import * as domain from './index';

// The rest of the app imports exactly these names from @gatehouse/domain.
describe('the public API', () => {
  it.each([
    'AccessError',
    'AccessErrorCode',
    'parseDuration',
    'formatDuration',
    'parsePolicy',
    'PolicyError',
    'resolveScope',
    'columnSensitivity',
    'highestSensitivity',
    'riskScore',
    'isWithinHours',
    'evaluatePolicy',
    'requestTransition',
    'grantTransition',
    'isGrantLive',
    'checkApprover',
    'narrowScope',
    'approvalComplete',
  ])('exports %s', (name) => {
    expect(domain).toHaveProperty(name);
  });

  it('makes a PolicyError an AccessError with code INVALID_POLICY', () => {
    const error = new domain.PolicyError('p.yaml', [{ path: 'version', message: 'is required' }]);
    expect(error).toBeInstanceOf(domain.AccessError);
    expect(error.code).toBe(domain.AccessErrorCode.INVALID_POLICY);
    expect(error.message).toBe('p.yaml: version: is required');
  });
});
