import fc from 'fast-check';

// Arbitraries for the fuzz spec: valid values generated from an endpoint's JSON Schema (as zod's
// toJSONSchema writes it), realistic values where the schema alone would only meet 422s, and
// hostile values swapped in at a random place.

/** The parts of JSON Schema that zod's toJSONSchema writes for our request schemas. */
export interface JsonSchema {
  type?: string;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  propertyNames?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
}

/** Realistic values by property name, preferred over what the schema alone would generate. */
export type Hints = Record<string, fc.Arbitrary<unknown>>;

function stringFrom(s: JsonSchema): fc.Arbitrary<string> {
  const min = s.minLength ?? 0;
  const max = Math.min(s.maxLength ?? 40, 40);
  switch (s.format) {
    case 'uuid':
      return fc.uuid({ version: 4 });
    case 'email':
      return fc.emailAddress().filter((e) => e.length <= (s.maxLength ?? 320) && new RegExp(s.pattern ?? '.').test(e));
    case 'date-time':
      return fc
        .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
        .map((d) => d.toISOString());
    case 'ipv4':
      return fc.ipV4();
    case 'ipv6':
      return fc.ipV6();
  }
  if (s.pattern) {
    return fc.stringMatching(new RegExp(s.pattern)).filter((v) => v.length >= min && v.length <= (s.maxLength ?? Infinity));
  }
  return fc.string({ minLength: min, maxLength: Math.max(min, max) });
}

/** Valid values of a JSON Schema; `hints` replace generated values of the named properties most of the time. */
export function fromSchema(s: JsonSchema, hints: Hints = {}): fc.Arbitrary<unknown> {
  if (s.anyOf) return fc.oneof(...s.anyOf.map((x) => fromSchema(x, hints)));
  if (s.enum) return fc.constantFrom(...s.enum);
  switch (s.type) {
    case 'string':
      return stringFrom(s);
    case 'integer':
      return fc.integer({ min: s.minimum ?? -1_000_000, max: s.maximum ?? 1_000_000 });
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(fromSchema(s.items ?? {}, hints), {
        minLength: s.minItems ?? 0,
        maxLength: Math.max(s.minItems ?? 0, Math.min(s.maxItems ?? 5, 5)),
      });
    case 'object': {
      if (s.properties) {
        const required = new Set(s.required ?? []);
        const shape: Record<string, fc.Arbitrary<unknown>> = {};
        for (const [key, sub] of Object.entries(s.properties)) {
          const generated = fromSchema(sub, hints);
          shape[key] = hints[key] ? fc.oneof({ weight: 9, arbitrary: hints[key] }, { weight: 1, arbitrary: generated }) : generated;
        }
        return fc.record(shape, { requiredKeys: [...Object.keys(shape)].filter((k) => required.has(k)) });
      }
      if (typeof s.additionalProperties === 'object') {
        return fc.dictionary(stringFrom(s.propertyNames ?? { type: 'string' }), fromSchema(s.additionalProperties, hints), { maxKeys: 4 });
      }
      return fc.constant({});
    }
  }
  return fc.jsonValue({ maxDepth: 2 });
}

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code));

/** Text Postgres cannot store, or that looks like something else (numbers, JSON, mentions). */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom('\u0000', 'ab\u0000cd', 'é\u0000', '\u0000'.repeat(3), '\ud800', 'x\udbff', '\udc00y', '\udfff\ud800', 'ok\ud83d'),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.string({ maxLength: 8 }), fc.oneof(fc.constant('\u0000'), loneSurrogate), fc.string({ maxLength: 8 }))
      .map(([a, bad, b]) => `${a}${bad}${b}`),
  },
  fc.constantFrom(
    'NaN',
    'Infinity',
    '-Infinity',
    '1e309',
    '-0',
    '0x1F',
    ' 42 ',
    '9'.repeat(30),
    '',
    ' ',
    '\t\n',
    'null',
    'true',
    '[]',
    '{}',
    '%00',
    '\\u0000',
  ),
  fc.constantFrom(
    '<!channel>',
    '<!here>',
    '<@U123>',
    '<https://evil.example|bank.example>',
    '&amp;&lt;',
    "'; DROP TABLE agents; --",
    '../../etc/passwd',
    '\u202e',
    '\ufeff',
  ),
  fc.constantFrom('x'.repeat(5000), 'é'.repeat(3000)),
);

/** Arrays nested `depth` deep: [[[...]]]. */
export const nested = (depth: number, leaf: unknown = 1): unknown => {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};

/** An object whose own key is `__proto__` (as JSON.parse would make it), or `constructor.prototype`. */
const protoKeys = fc.constantFrom(JSON.parse('{"__proto__": {"admin": true}}') as unknown, { constructor: { prototype: { admin: true } } });

/** Any hostile JSON value: bad text, extreme or fractional numbers, wrong types, deep nesting, prototype keys. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: hostileText },
  { weight: 2, arbitrary: fc.constantFrom(1e308, -1e308, -1, 0, -0, 0.5, 2 ** 53 + 1, 2 ** 63, 1e21, 4.9e-324) },
  { weight: 2, arbitrary: fc.constantFrom(null, true, false, [], {}, [null], { '': '' }, [[[]]]) },
  { weight: 1, arbitrary: fc.integer({ min: 50, max: 3000 }).map((depth) => nested(depth)) },
  { weight: 1, arbitrary: protoKeys },
  { weight: 1, arbitrary: fc.tuple(hostileText, fc.string({ maxLength: 5 })).map(([key, value]) => ({ [key]: value })) },
);

/** Every path to a value inside `value` (objects and arrays), the root excluded. */
function pathsOf(value: unknown, prefix: PropertyKey[] = [], out: PropertyKey[][] = []): PropertyKey[][] {
  if (out.length > 200 || value === null || typeof value !== 'object') return out;
  for (const [key, child] of Object.entries(value as object)) {
    const path = [...prefix, Array.isArray(value) ? Number(key) : key];
    out.push(path);
    pathsOf(child, path, out);
  }
  return out;
}

function replaceAt(value: unknown, path: PropertyKey[], replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path;
  const copy: any = Array.isArray(value) ? [...value] : { ...(value as object) };
  copy[head as any] = replaceAt(copy[head as any], rest, replacement);
  return copy;
}

/** A mutation: corrupt a string (value or key) with NUL or a lone surrogate, replace a value, or add a hostile key. */
export interface Mutation {
  kind: 'inject' | 'replace' | 'add-key' | 'none';
  at: number;
  bad: string;
  key: string;
  value: unknown;
}

export const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('inject', 'inject', 'inject', 'replace', 'replace', 'add-key', 'none'),
  at: fc.nat(),
  bad: fc.oneof(fc.constant('\u0000'), loneSurrogate),
  key: fc.oneof(hostileText, fc.constantFrom('__proto__', 'constructor', 'prototype', 'extra')),
  value: hostileValue,
}) as fc.Arbitrary<Mutation>;

const valueAt = (value: unknown, path: PropertyKey[]) => path.reduce<any>((v, k) => v?.[k as any], value);

/** `value` with the key at `path` renamed by `rename`. */
function renameKeyAt(value: unknown, path: PropertyKey[], rename: (key: string) => string): unknown {
  const parent = path.slice(0, -1);
  const key = String(path[path.length - 1]);
  const entries = Object.entries(valueAt(value, parent) as object).map(([k, v]) => [k === key ? rename(k) : k, v] as const);
  const renamed = {};
  for (const [k, v] of entries) Object.defineProperty(renamed, k, { value: v, enumerable: true, configurable: true, writable: true });
  return replaceAt(value, parent, renamed);
}

/** Applies a mutation to a (mostly valid) value. */
export function mutate(value: unknown, m: Mutation): unknown {
  if (m.kind === 'none') return value;
  const paths = pathsOf(value);
  if (m.kind === 'inject') {
    // Strings and object keys, anywhere: the places text reaches Postgres.
    const targets = paths.flatMap((p) => [
      ...(typeof valueAt(value, p) === 'string' ? [{ p, key: false }] : []),
      ...(typeof p[p.length - 1] === 'string' ? [{ p, key: true }] : []),
    ]);
    if (targets.length === 0) return typeof value === 'string' ? `${value}${m.bad}` : value;
    const { p, key } = targets[m.at % targets.length];
    const corrupt = (text: string) => {
      const i = m.at % (text.length + 1);
      return `${text.slice(0, i)}${m.bad}${text.slice(i)}`;
    };
    return key ? renameKeyAt(value, p, corrupt) : replaceAt(value, p, corrupt(valueAt(value, p) as string));
  }
  if (m.kind === 'replace' && paths.length > 0) return replaceAt(value, paths[m.at % paths.length], m.value);
  // add a key to the root or to an object inside it
  const objects = [[], ...paths].filter((p) => {
    const target = valueAt(value, p);
    return target !== null && typeof target === 'object' && !Array.isArray(target);
  });
  if (objects.length === 0) return value;
  const where = objects[m.at % objects.length];
  const extended = { ...(valueAt(value, where) as object) };
  Object.defineProperty(extended, m.key, { value: m.value, enumerable: true, configurable: true, writable: true });
  return replaceAt(value, where, extended);
}

/** A mostly valid value of a schema, with one hostile change most of the time. */
export function hostileOf(s: JsonSchema, hints: Hints = {}): fc.Arbitrary<unknown> {
  return fc.tuple(fromSchema(s, hints), mutation).map(([value, m]) => mutate(value, m));
}

/**
 * Percent-encodes text for a URL, including what encodeURIComponent refuses: a lone surrogate
 * goes out as the three bytes a lax encoder (WTF-8) would send.
 */
export function encodeLoosely(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code >= 0xd800 && code <= 0xdfff) {
      out += [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    } else out += encodeURIComponent(ch);
  }
  return out;
}

/** A query string of `values`; arrays repeat the key, as clients do. */
export function queryString(values: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    const list = Array.isArray(value) ? value : [value];
    for (const item of list) parts.push(`${encodeLoosely(key)}=${encodeLoosely(typeof item === 'string' ? item : (JSON.stringify(item) ?? ''))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/** Path segments a client might send in place of an id (already encoded). */
export const hostileId: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'not-a-uuid',
    '%00',
    'a%00b',
    '%ED%A0%80',
    '%FF%FE',
    '00000000-0000-0000-0000-000000000000',
    '..%2F..%2Fadmin',
    'x'.repeat(300),
    '1',
    '-1',
    'null',
    '%20',
  ),
  fc.uuid({ version: 4 }).map((id) => id.toUpperCase()),
  fc.uuid(),
  hostileText.filter((t) => t.length > 0 && t.length < 100).map(encodeLoosely),
);

/** Base64url of text, as cursors are written. */
export const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

/** Cursors that decode to odd values: bad ids, extreme dates, huge numbers, garbage. */
export const hostileCursor: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    b64('not-a-date|x'),
    b64('2026-01-01T00:00:00.000Z|not-a-uuid'),
    b64('2026-01-01T00:00:00.000Z|'),
    b64('+275760-09-13T00:00:00.000Z|9f1c0e4e-8a2b-4d1e-9a57-1c2b3d4e5f60'),
    b64('0001-01-01T00:00:00.000Z|9f1c0e4e-8a2b-4d1e-9a57-1c2b3d4e5f60'),
    b64('-000001-01-01T00:00:00.000Z|9f1c0e4e-8a2b-4d1e-9a57-1c2b3d4e5f60'),
    b64('1970-01-01T00:00:00.000Z|9f1c0e4e-8a2b-4d1e-9a57-1c2b3d4e5f60'),
    b64('9999-12-31T23:59:59.999Z|ffffffff-ffff-ffff-ffff-ffffffffffff'),
    b64('2026-01-01|9f1c0e4e-8a2b-4d1e-9a57-1c2b3d4e5f60|extra'),
    b64('2026-01-01T00:00:00.000Z|\u0000'),
    b64('1e400|x'),
    b64('2026-01-01T00:00:00.000Z|9F1C0E4E-8A2B-4D1E-9A57-1C2B3D4E5F60'),
    '9999999999999999999',
    '9223372036854775808',
    '9223372036854775807',
    '18446744073709551615',
    '-1',
    '0',
    '00000000000000000000',
    '1.5',
    '1e3',
    '',
    'not-a-uuid',
    '9f1c0e4e-8a2b-4d1e-9a57-1c2b3d4e5f60',
    '====',
    '%00',
    '\u0000',
  ),
  fc.uuid(),
  fc.date({ noInvalidDate: true }).chain((d) => fc.oneof(fc.uuid(), fc.string({ maxLength: 10 })).map((id) => b64(`${d.toISOString()}|${id}`))),
  hostileText,
);
