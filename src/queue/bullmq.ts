import { createRequire } from 'node:module';

/**
 * BullMQ's classes, for every module that constructs one (types still come from `import type … from 'bullmq'`).
 *
 * BullMQ is CommonJS, and its index re-exports some 250 modules (Redis, Postgres and Valkey backends, sandboxes, …).
 * Imported as ESM, Node 20 parses each of them for its named exports before any code runs; required, it does not:
 * 0.2 s less CPU at every worker and server start, which is most of why a fleet of workers starting together
 * reaches its first PATCH later. The same module instance is shared with any `import 'bullmq'` (tests), so
 * `instanceof` and BullMQ's error classes behave the same either way.
 */
export const bullmq = createRequire(import.meta.url)('bullmq') as typeof import('bullmq');
