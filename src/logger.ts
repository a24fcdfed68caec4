import pino, { type Logger } from 'pino';

/**
 * Structured JSON logs on stderr, so stdout stays clean for `--json` output.
 * Anything that could carry a secret is redacted by path, whatever the call site logs.
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
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
    pino.destination(2),
  );
}

export type { Logger };
