import type { Worker } from 'bullmq';

/**
 * Closes a BullMQ worker, letting its running jobs finish for at most `deadlineMs`. Returns 'timeout' when they did not:
 * BullMQ's close() cannot be hurried once started (a forced close(true) returns the same pending promise), so the
 * jobs are abandoned as they are; their locks expire and stalled-job recovery hands them to another worker.
 */
export async function closeWithin(worker: Worker, deadlineMs: number): Promise<'closed' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), deadlineMs)));
  const closing = worker.close();
  const outcome = await Promise.race([closing.then(() => 'closed' as const), deadline]);
  clearTimeout(timer);
  if (outcome === 'timeout') closing.catch(() => undefined);
  return outcome;
}
