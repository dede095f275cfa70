import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The built MCP server's entry point. */
export const MCP_MAIN = 'dist/apps/mcp/apps/mcp/src/main.js';

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds the MCP server (`nest build mcp`, about 3 s) when dist is missing or older than its sources. */
export function ensureMcpBuilt(): string {
  const built = existsSync(MCP_MAIN) ? statSync(MCP_MAIN).mtimeMs : 0;
  const sources = Math.max(newestSource('apps/mcp/src'), newestSource('libs/sdk/src'));
  if (built < sources) execFileSync('npx', ['nest', 'build', 'mcp'], { stdio: 'pipe' });
  return MCP_MAIN;
}
