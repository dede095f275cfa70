/** Node arguments that run a TypeScript entry point of this repository directly (see register-ts.js). */
export function typescriptEntry(entry: string): string[] {
  return ['--require', require.resolve('./register-ts.js'), entry];
}
