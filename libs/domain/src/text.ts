// Text Postgres cannot store. A NUL (U+0000) is refused by `text` and `jsonb` columns alike; a lone
// (unpaired) UTF-16 surrogate is not Unicode at all, so it either fails the same way or is silently
// replaced on the way to UTF-8. Either one anywhere in an input is refused before it reaches a
// query, with the path to it, instead of surfacing as a 500 (or as a quietly altered value).

/** Where an input holds text that cannot be stored, and why. */
export interface UnstorableText {
  /** Keys and array indexes from the input's root to the offending value or key. */
  path: (string | number)[];
  /** True when the key at `path` is at fault, not the value under it. */
  inKey: boolean;
  /** Why, in words a person can act on, e.g. "contains a NUL character (U+0000), which cannot be stored". */
  reason: string;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why `text` cannot be stored, or undefined when it can. */
export function unstorableReason(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character (U+0000), which cannot be stored';
  const lone = LONE_SURROGATE.exec(text);
  if (lone) {
    const code = lone[0].charCodeAt(0).toString(16).toUpperCase();
    return `contains a lone surrogate (U+${code}), which is not valid Unicode text; send well-formed UTF-8`;
  }
  return undefined;
}

/** A step down from the root: the key or index taken, and the step before it. */
interface Step {
  key: string | number;
  parent: Step | undefined;
}

function pathOf(step: Step | undefined): (string | number)[] {
  const path: (string | number)[] = [];
  for (let s = step; s; s = s.parent) path.push(s.key);
  return path.reverse();
}

/**
 * The first string, value or key, at any depth of `value` that cannot be stored; undefined when
 * all can. Walks with its own stack and builds a path only for what it reports, so input nested
 * thousands of levels deep costs neither the call stack nor quadratic time.
 */
export function findUnstorableText(value: unknown): UnstorableText | undefined {
  const stack: { value: unknown; at: Step | undefined }[] = [{ value, at: undefined }];
  while (stack.length > 0) {
    const { value: current, at } = stack.pop()!;
    if (typeof current === 'string') {
      const reason = unstorableReason(current);
      if (reason) return { path: pathOf(at), inKey: false, reason };
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    const isArray = Array.isArray(current);
    const entries = Object.entries(current);
    if (!isArray) {
      for (const [key] of entries) {
        const reason = unstorableReason(key);
        if (reason) return { path: pathOf({ key, parent: at }), inKey: true, reason: `the field name ${reason}` };
      }
    }
    // Pushed in reverse, so the first field is reported first.
    for (let i = entries.length - 1; i >= 0; i--) stack.push({ value: entries[i][1], at: { key: isArray ? i : entries[i][0], parent: at } });
  }
  return undefined;
}

/** A path as the API's error details write it: `task.note`, `columns.0`. */
export function dottedPath(path: (string | number)[]): string {
  return path.map(String).join('.');
}
