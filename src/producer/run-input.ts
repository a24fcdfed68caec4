import { EXIT, OperatorError } from '../errors.js';
import type { ExistingRun } from '../results/store.js';

/**
 * A run id names one input. The identity of that input is stored with the run when it is created
 * (`input` in P:run:{id}), and a later import under the same id may only resume that same input.
 *
 * - A file is `file <absolute path> size=<bytes> mtime=<ISO time>`: it pins the content, so a resume is allowed
 *   whether or not the earlier pass finished (a finished one just finds every line already admitted).
 * - Anything whose content cannot be pinned before it is read (stdin, a PostgreSQL query) is `stdin` or
 *   `postgres <url without password> <query>`: the same id may continue it only while the earlier pass did not
 *   finish (it broke off), and the caller must feed the same rows again.
 * - Event requests (`http`) share the run of their hour by design, each on its own lines: they always continue it.
 */
export interface InputIdentity {
  /** Stored with the run and compared as a string. */
  id: string;
  /** True when the identity pins the content (a file's path, size and modification time). */
  pinsContent: boolean;
  /** True for inputs that add to a shared run by design: the event requests of one hour each take their own lines. */
  appends?: boolean;
}

export function fileIdentity(absolutePath: string, size: number, mtimeMs: number): InputIdentity {
  return { id: `file ${absolutePath} size=${size} mtime=${new Date(mtimeMs).toISOString()}`, pinsContent: true };
}

/**
 * A file claimed from a drop folder: claimed under a fresh run id and never changed in processing/, so its
 * schedule and name pin it (the same export dropped again the next day gets a new run id).
 */
export function dropFileIdentity(scheduleName: string, fileName: string): InputIdentity {
  return { id: `drop ${scheduleName} ${fileName}`, pinsContent: true };
}

export function labelIdentity(sourceLabel: string): InputIdentity {
  return { id: `source ${sourceLabel}`, pinsContent: false };
}

export const STDIN_IDENTITY: InputIdentity = { id: 'stdin', pinsContent: false };
export const HTTP_IDENTITY: InputIdentity = { id: 'http', pinsContent: false, appends: true };
export function postgresIdentity(redactedUrl: string, query: string): InputIdentity {
  return { id: `postgres ${redactedUrl} ${query}`, pinsContent: false };
}

export type RunReuseDecision = { kind: 'resume' } | { kind: 'refuse'; reason: string };

const quote = (text: string) => (text.length > 200 ? `${text.slice(0, 200)}…` : text);

/** Decides whether an import may continue an existing run, or must be refused (exit 2) naming the input the run holds. */
export function decideRunReuse(runId: string, existing: ExistingRun, input: InputIdentity): RunReuseDecision {
  const held = existing.input || existing.source || 'an input that was not recorded';
  const refuse = (why: string): RunReuseDecision => ({
    kind: 'refuse',
    reason: `run ${runId} already holds ${quote(held)}; ${why}. A run id names one input: import this one under a new --run-id (or none)`,
  });
  if (existing.input !== input.id) return refuse(`this input is ${quote(input.id)}`);
  if (input.pinsContent || input.appends) return { kind: 'resume' };
  const brokeOff = !existing.importFinished || existing.importError !== '';
  if (brokeOff) return { kind: 'resume' };
  return refuse(
    `that ${input.id === 'stdin' ? 'stdin' : 'query'} import was read to the end, ` +
      `and a new ${input.id === 'stdin' ? 'stdin stream' : 'query result'} cannot be ` +
      `told apart from different data`,
  );
}

export class RunInputConflictError extends OperatorError {
  override name = 'RunInputConflictError';
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}
