// Wording helpers shared by the policy parser and scope errors (not part of the public API).

/** ['rules', 2, 'when'] -> 'rules[2].when'; keys that are not plain names are quoted. */
export function formatPath(path: PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[a-z_][a-z0-9_]*$/i.test(String(part))) out += out ? `.${String(part)}` : String(part);
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out;
}

/** Lists known names for an error message, cut short when there are many. */
export function listKnown(names: string[], limit = 10): string {
  if (names.length === 0) return '(none)';
  const shown = names.slice(0, limit).join(', ');
  return names.length > limit ? `${shown} and ${names.length - limit} more` : shown;
}
