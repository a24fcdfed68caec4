/** Exit codes scripts can rely on; documented in README.md. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  blocked: 3,
  notFound: 4,
  /** `verify`: Graph no longer holds some rows (drifted or missing). */
  drift: 5,
  /** Ctrl-C (SIGINT) stopped the command (128 + 2, as shells report it). */
  interrupted: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * An expected failure whose message tells the operator what is wrong and what to do, with the exit code
 * the CLI ends with. Anything else that reaches the CLI is a bug, and prints its stack at debug level.
 * Subclasses name where the failure came from; a caller that knows better may rethrow with another code.
 */
export class OperatorError extends Error {
  override name = 'OperatorError';
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.failure,
  ) {
    super(message);
  }
}
