import { describeWithBinary, startCaddy } from '../support/gateways';
import { GATEWAY_TOKEN, gatewayScenarios } from './gateway-suite';

// deploy/caddy/Caddyfile with Debian's real caddy (forward_auth).
describeWithBinary('caddy', 'Caddy forward_auth in front of an upstream (deploy/caddy)', (binary) => {
  gatewayScenarios((brokerUrl, upstream) =>
    startCaddy(binary, { GATEHOUSE_URL: brokerUrl, GATEWAY_TOKEN, UPSTREAM_URL: upstream.url, SERVER_NAME: 'github.egress.test' }),
  );
});
