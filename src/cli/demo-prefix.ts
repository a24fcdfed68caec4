import { ConfigError, DEFAULT_SYNC_PREFIX, SYNC_PREFIX_RULE } from '../config.js';

/**
 * The demo's key prefix: SYNC_PREFIX's own with `-demo` appended (`csync-demo` when SYNC_PREFIX is unset). The demo
 * clears its prefix before it starts, so demos of different SYNC_PREFIXes on one Redis never clear each other's keys.
 * A SYNC_PREFIX that the configuration refuses is refused here too, naming SYNC_PREFIX.
 */
export function demoPrefixOf(syncPrefix: string | undefined): string {
  const base = syncPrefix ?? DEFAULT_SYNC_PREFIX;
  if (!SYNC_PREFIX_RULE.test(base)) {
    throw new ConfigError('Invalid configuration:\n  SYNC_PREFIX: SYNC_PREFIX may hold only letters, digits and _ . : - (1-64 chars)');
  }
  const prefix = `${base}-demo`;
  if (!SYNC_PREFIX_RULE.test(prefix)) {
    const room = 64 - '-demo'.length;
    throw new ConfigError(
      'Invalid configuration:\n  SYNC_PREFIX: the demo runs under "<SYNC_PREFIX>-demo", ' +
        `so SYNC_PREFIX may have at most ${room} characters here`,
    );
  }
  return prefix;
}

/** The run ids the demo gives its two runs (and gave them before it marked its prefix). */
export const demoRunId = (which: 'first' | 'second', nowMs: number): string => `demo-${which}-${nowMs}`;
const DEMO_RUN_ID = /^demo-(first|second)-\d+$/;

export interface DemoPrefixContents {
  /** Whether any key lives under the prefix. */
  holdsKeys: boolean;
  /** Whether the demo's marker key is set (a demo cleared this prefix before). */
  marked: boolean;
  /** The run ids the prefix lists. */
  runIds: string[];
}

/**
 * Whether the demo may clear its prefix before it starts: when nothing is there, or what is there is a demo's (its
 * marker is set, or, left by a demo older than the marker, every run is a demo run). Anything else is someone's
 * deployment whose SYNC_PREFIX happens to be `<another SYNC_PREFIX>-demo`: its keys are kept and the demo stops.
 */
export function demoMayClear(contents: DemoPrefixContents): boolean {
  if (!contents.holdsKeys || contents.marked) return true;
  return contents.runIds.length > 0 && contents.runIds.every((runId) => DEMO_RUN_ID.test(runId));
}
