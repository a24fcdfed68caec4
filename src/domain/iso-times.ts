import type { RunStatus } from '../interfaces.js';

/** A run's times as ISO 8601 UTC, beside the millisecond fields (kept: they are public, and scripts do arithmetic on them). */
export interface RunIsoTimes {
  createdAtIso: string;
  finishedAtIso?: string;
  cancelledAtIso?: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The run's status with every timestamp also given as ISO 8601 UTC (`createdAtIso` for `createdAt`, ...). */
export function withIsoTimes<T extends Pick<RunStatus, 'createdAt' | 'finishedAt' | 'cancelledAt'>>(s: T): T & RunIsoTimes {
  return {
    ...s,
    createdAtIso: iso(s.createdAt),
    ...(s.finishedAt !== undefined ? { finishedAtIso: iso(s.finishedAt) } : {}),
    ...(s.cancelledAt !== undefined ? { cancelledAtIso: iso(s.cancelledAt) } : {}),
  };
}

/** A time in ms, also as ISO 8601 UTC, under `<name>Iso`; nothing when the time is absent. */
export function isoBeside(name: string, ms: number | undefined): Record<string, string> {
  return ms === undefined ? {} : { [`${name}Iso`]: iso(ms) };
}
