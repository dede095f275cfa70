import { dottedPath, findUnstorableText, unstorableReason } from './text';

describe('unstorableReason', () => {
  it('accepts ordinary text, including astral characters written as surrogate pairs', () => {
    for (const text of ['', 'Draft a reply to ticket 4521', 'Zoë O’Neil', '日本語', '👩‍💻 on call', '\ud83d\ude00', 'tab\tnew\nline', '\u007f']) {
      expect(unstorableReason(text)).toBeUndefined();
    }
  });

  it('refuses a NUL anywhere in the text', () => {
    for (const text of ['\u0000', 'a\u0000', '\u0000b', 'a\u0000b']) {
      expect(unstorableReason(text)).toBe('contains a NUL character (U+0000), which cannot be stored');
    }
  });

  it('refuses a lone high or low surrogate, naming it', () => {
    expect(unstorableReason('x\ud800')).toBe('contains a lone surrogate (U+D800), which is not valid Unicode text; send well-formed UTF-8');
    expect(unstorableReason('\udfffy')).toContain('U+DFFF');
    expect(unstorableReason('ok\ud83d')).toContain('U+D83D');
    // a low surrogate before its high one is not a pair
    expect(unstorableReason('\ude00\ud83d')).toContain('U+DE00');
  });
});

describe('findUnstorableText', () => {
  it('finds nothing in clean input of any shape', () => {
    expect(
      findUnstorableText({ resource: 'crm.customers', columns: ['id', 'name'], task: { id: 'T-1', n: 4, ok: true, none: null } }),
    ).toBeUndefined();
    for (const value of [null, undefined, 42, true, 'text', [], {}]) expect(findUnstorableText(value)).toBeUndefined();
  });

  it('gives the path to a value, through objects and arrays', () => {
    expect(findUnstorableText({ task: { note: 'a\u0000b' } })).toEqual({
      path: ['task', 'note'],
      inKey: false,
      reason: 'contains a NUL character (U+0000), which cannot be stored',
    });
    expect(findUnstorableText({ columns: ['id', 'na\ud800me'] })).toMatchObject({ path: ['columns', 1], inKey: false });
    expect(findUnstorableText('\u0000')).toMatchObject({ path: [], inKey: false });
  });

  it('checks keys as well as values', () => {
    const found = findUnstorableText({ task: { ['not\u0000e']: 'fine' } });
    expect(found).toEqual({
      path: ['task', 'not\u0000e'],
      inKey: true,
      reason: 'the field name contains a NUL character (U+0000), which cannot be stored',
    });
    expect(findUnstorableText({ attributes: { ['\udc00']: 1 } })).toMatchObject({ path: ['attributes', '\udc00'], inKey: true });
  });

  it('reports the first problem in document order', () => {
    expect(findUnstorableText({ a: 'ok', b: ['x', 'y\u0000'], c: 'z\u0000' })?.path).toEqual(['b', 1]);
    expect(findUnstorableText([{ k: '\ud800' }, '\u0000'])?.path).toEqual([0, 'k']);
  });

  it('walks input nested 100,000 deep without overflowing the stack, in linear time', () => {
    let deep: unknown = 'bottom\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const started = Date.now();
    const found = findUnstorableText({ deep });
    expect(found?.path).toHaveLength(100_001);
    expect(found?.path[0]).toBe('deep');
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('dottedPath', () => {
  it('writes paths as the API error details do', () => {
    expect(dottedPath(['task', 'note'])).toBe('task.note');
    expect(dottedPath(['columns', 0])).toBe('columns.0');
    expect(dottedPath([])).toBe('');
  });
});
