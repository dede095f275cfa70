import { redactedUrl } from './logging';

describe('redactedUrl: what a log says of a request target', () => {
  it.each([
    ['/v1/grants', '/v1/grants'],
    ['/v1/grants?status=active', '/v1/grants?status=[redacted]'],
    ['/v1/x?access_token=eyJabc.def.ghi&wait=30', '/v1/x?access_token=[redacted]&wait=[redacted]'],
    ['/v1/x?eyJhbGciOiJFZERTQSJ9.e30.sig', '/v1/x?[redacted]'],
    ['/v1/x?token=', '/v1/x?token=[redacted]'],
    ['/v1/x?a=1&&b=2&', '/v1/x?a=[redacted]&b=[redacted]'],
    ['/v1/x?this-key-is-far-too-long-to-be-a-parameter-name-0123456789=1', '/v1/x?[redacted]'],
    ['/v1/x?k%20ey=1', '/v1/x?[redacted]'],
    ['/v1/x?', '/v1/x?'],
    ['/v1/x#access_token=abc', '/v1/x'],
    ['/v1/x?a=1#b=2', '/v1/x?a=[redacted]'],
  ])('%s -> %s', (url, logged) => {
    expect(redactedUrl(url)).toBe(logged);
  });
});
