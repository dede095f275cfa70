import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import { Config } from './config/config';

/** Structured JSON logs with a request id on every line; credentials are redacted, never logged. */
export function loggingModule(config: Config) {
  return LoggerModule.forRoot({
    pinoHttp: {
      level: config.logLevel,
      genReqId: (req: IncomingMessage) => {
        const given = req.headers['x-request-id'];
        return typeof given === 'string' && /^[\w.-]{1,100}$/.test(given) ? given : randomUUID();
      },
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-slack-signature"]', 'req.body.token', '*.token', '*.privateJwk', '*.signingKey'],
        censor: '[redacted]',
      },
      autoLogging: { ignore: (req: IncomingMessage) => req.url === '/health/live' || req.url === '/metrics' },
      customSuccessMessage: (req, res) => `${req.method} ${req.url} ${res.statusCode}`,
    },
  });
}
