/**
 * The one rule for run ids, on the way in (CLI arguments, `--run-id`, API paths) and on the way out (ids read back
 * from Redis). A run id becomes part of Redis keys (`P:run:{id}`, `P:run:{id}:rows`), so `nd1:rows` must never be
 * taken as a run id: it would name run nd1's rows hash.
 */
export const MAX_RUN_ID_LENGTH = 128;

export function runIdProblem(runId: string): string | undefined {
  if (runId.length === 0) return 'is empty';
  if (runId.length > MAX_RUN_ID_LENGTH) return `is longer than ${MAX_RUN_ID_LENGTH} characters`;
  if (!/^[A-Za-z0-9._-]+$/.test(runId)) return 'may hold only letters, digits and _ . -';
  if (/^\.+$/.test(runId)) return 'may not be made only of dots';
  return undefined;
}

export function isValidRunId(runId: unknown): runId is string {
  return typeof runId === 'string' && runIdProblem(runId) === undefined;
}

/** Quotes at most 200 characters of an id in an error message (JSON-escaped, so control characters show). */
export function describeRunId(runId: string): string {
  return JSON.stringify(runId.length > 200 ? `${runId.slice(0, 200)}…` : runId);
}
