import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { GatehouseAgent } from '@gatehouse/sdk';
import { loadMcpConfig, McpConfigError } from './config';
import { registerTools } from './tools';

/** The Gatehouse MCP server on stdio: stdout carries the protocol, so everything else goes to stderr. */
async function main(): Promise<void> {
  const config = loadMcpConfig(process.env);
  const agent = new GatehouseAgent({ brokerUrl: config.brokerUrl, agentId: config.agentId, privateKey: config.privateKey, issuer: config.issuer });
  const server = new McpServer({ name: 'gatehouse', version: '0.1.0' });
  registerTools(server, agent);
  await server.connect(new StdioServerTransport());
  console.error(`gatehouse-mcp: ready, agent ${config.agentId} at ${config.brokerUrl}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof McpConfigError ? `gatehouse-mcp: cannot start. ${error.message}` : error);
  process.exit(1);
});
