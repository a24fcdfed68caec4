/** Thrown into an import's row stream when the operator pressed Ctrl-C (SIGINT). */
export class ImportInterrupted extends Error {
  override name = 'ImportInterrupted';
  constructor() {
    super('interrupted (Ctrl-C)');
  }
}

/**
 * Passes `source` through until `signal` aborts, then throws ImportInterrupted at once, even while the source is
 * waiting for input (a pipe with nothing more to say): the import then queues what it already read and stops.
 */
export async function* untilInterrupted<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  const interrupted = new Promise<never>((_, reject) =>
    signal.addEventListener('abort', () => reject(new ImportInterrupted()), { once: true }),
  );
  interrupted.catch(() => undefined);
  try {
    for (;;) {
      if (signal.aborted) throw new ImportInterrupted();
      const next = await Promise.race([iterator.next(), interrupted]);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Lets go of the file or the database cursor; a source still waiting for input may not answer, so not awaited.
    void Promise.resolve(iterator.return?.()).catch(() => undefined);
  }
}

/** What an interrupted import tells the operator: what was queued, and how to cancel or resume. */
export function describeInterruptedImport(
  runId: string,
  label: string,
  queued: { total: number; enqueued: number; pending: number } | undefined,
): string {
  if (!queued)
    return (
      `import of ${label} interrupted (Ctrl-C) before anything was queued; nothing to ` +
      `cancel. Run the same command again to start over.`
    );
  return (
    `import of ${label} interrupted (Ctrl-C): run ${runId} holds the ${queued.total} rows read so far, ${queued.enqueued} queued to send ` +
    `(${queued.pending} still waiting; workers will send them). To stop them: compliance-sync cancel ${runId}. ` +
    `To read the rest: rerun the same import with --run-id ${runId} (rows already queued are not queued twice).`
  );
}
