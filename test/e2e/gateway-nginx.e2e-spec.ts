import { describeWithBinary, startNginx } from '../support/gateways';
import { GATEWAY_TOKEN, gatewayScenarios } from './gateway-suite';

// deploy/nginx/gatehouse.conf.template with Debian's real nginx (nginx-light has auth_request).
describeWithBinary('nginx', 'nginx auth_request in front of an upstream (deploy/nginx)', (binary) => {
  gatewayScenarios((brokerUrl, upstream) =>
    startNginx(binary, {
      GATEHOUSE_SERVER: new URL(brokerUrl).host,
      GATEWAY_TOKEN,
      UPSTREAM_URL: upstream.url,
      SERVER_NAME: 'github.egress.test',
    }),
  );
});
