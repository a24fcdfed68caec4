import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';

export type LogFormat = 'pretty' | 'json';

/** --log-format or SYNC_LOG_FORMAT when given; else readable lines for a person at a terminal, JSON for a collector. */
export function chooseLogFormat(requested: LogFormat | undefined, stderrIsTTY: boolean): LogFormat {
  return requested ?? (stderrIsTTY ? 'pretty' : 'json');
}

/**
 * pino-pretty as a synchronous stream on stderr, not a pino transport: transports load modules by name in a worker
 * thread, which the esbuild bundle of dist/ cannot serve. Loaded only when pretty is chosen (JSON starts faster).
 */
function prettyStream(colorize: boolean): DestinationStream {
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  return pretty({ destination: 2, sync: true, colorize, translateTime: 'SYS:HH:MM:ss.l', ignore: 'service,hostname', singleLine: true });
}

/**
 * Logs on stderr, so stdout stays clean for `--json` output: pretty lines or JSON (chooseLogFormat).
 * Anything that could carry a secret is redacted by path, whatever the call site logs, in either format.
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}, format?: LogFormat): Logger {
  const chosen = chooseLogFormat(format, process.stderr.isTTY === true);
  return pino(
    {
      level,
      base: { service: 'compliance-sync', ...bindings },
      redact: {
        paths: [
          'authorization',
          'Authorization',
          '*.authorization',
          '*.Authorization',
          'headers.authorization',
          'req.headers.authorization',
          '*.headers.authorization',
          'token',
          '*.token',
          'accessToken',
          '*.accessToken',
          'clientSecret',
          '*.clientSecret',
          'credentials',
          '*.credentials',
          // The tenants of SYNC_TENANTS_FILE (config.tenants[i].credentials), wherever a config is logged.
          'tenants[*].credentials',
          '*.tenants[*].credentials',
        ],
        censor: '[redacted]',
      },
    },
    chosen === 'pretty' ? prettyStream(process.stderr.isTTY === true) : pino.destination(2),
  );
}

export type { Logger };
