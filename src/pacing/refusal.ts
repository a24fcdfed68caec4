/**
 * The refusal breaker's decisions (pure; the Redis side is src/pacing/refusal-breaker.ts).
 *
 * Intune answers a write it has no route for (`400 No OData route exists that match template ... with http verb PATCH`)
 * for every row alike: failing rows one by one would spend hours of the write budget. A 400 about one row's own values
 * (a validation message naming that value) is that row's alone. The two are told apart by the message's SHAPE: what is
 * left once the ids, GUIDs, numbers and URLs that differ from request to request are taken out. A run of 400s of one
 * shape on distinct rows of a tenant is the route, not the rows.
 */

import { graphMessageOf } from '../graph/errors.js';

export { graphMessageOf };

/** 400s of one shape on this many distinct rows in a row, with no success between, block the tenant. */
export const REFUSAL_THRESHOLD = 5;
/** How long a refused row waits for the breaker to decide before its 400 is taken as its own (no run formed). */
export const REFUSAL_HOLD_MS = 60_000;
/** How soon a held row looks again. */
export const REFUSAL_RECHECK_MS = 1000;

export const REFUSAL_HINT =
  "Graph refuses this write for every row, not for one row's values: check the " +
  'route and permission with `compliance-sync doctor --probe-write ' +
  '<configurationId>/<userStatusId>`, then run `compliance-sync resume <runId>`';

const URL_PATTERN = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"<>]+/gi;
const GUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi;
/** An OData key in a path, `('<id>')` or `(<id>)`. */
const ODATA_KEY = /\((?:'[^']*'|[^()\s]*)\)/g;
/** A path segment after `/`: the route's ids (`/userStatuses/user-7`) as well as the service's names. */
const PATH = /(?:\/[^\s/]+)+\/?/g;
const NUMBER = /\d+(?:\.\d+)?/g;

/**
 * What stays the same when Graph refuses every row for one reason: the code, and the message (Intune's inner one)
 * with URLs, request paths, GUIDs, OData keys and numbers replaced by placeholders. A validation message that names the
 * row's own value keeps that value, so two rows' messages differ unless their values do not.
 */
export function refusalShape(code: string | undefined, message: string): string {
  const shape = graphMessageOf(message)
    .replace(URL_PATTERN, '<url>')
    .replace(GUID, '<guid>')
    .replace(ODATA_KEY, '(<key>)')
    .replace(PATH, '<path>')
    .replace(NUMBER, '<n>')
    .replace(/\s+/g, ' ')
    .trim();
  return `${code ?? ''}|${shape}`;
}

/** What a held row finds when it looks again (src/pacing/refusal-breaker.ts RefusalBreaker.view). */
export interface RefusalView {
  /** The tenant's breaker is tripped (by refusals or by 403s): nothing is sent until `resume`. */
  tripped: boolean;
  /** The row still counts toward the current run of refusals of one shape. */
  counting: boolean;
  /** The run the row counted toward was broken (a success, or a 400 of another shape): its 400 was its own. */
  own: boolean;
}

export type RefusalVerdict =
  /** Wait and look again: the breaker has not decided yet, or it holds the tenant. */
  | { do: 'hold'; delayMs: number }
  /** The 400 was this row's own: fail it with Graph's answer (no new PATCH). */
  | { do: 'fail' }
  /** The breaker held the row and was released (`resume`): send it again. */
  | { do: 'resend' };

/**
 * What a row refused with a 400 does when it comes back: it was neither failed nor sent again while the breaker could
 * still decide that the refusal is the route's. `heldAt`: when its 400 came; `deadline`: the row's own
 * (SYNC_MAX_ROW_AGE_MS), after which it waits no longer; `random` in [0, 1), for jitter.
 */
export function judgeRefusal(
  view: RefusalView,
  heldAt: number,
  now: number,
  deadline: number,
  random: number,
  holdMs = REFUSAL_HOLD_MS,
): RefusalVerdict {
  if (view.own) return { do: 'fail' };
  const delayMs = Math.round(REFUSAL_RECHECK_MS * (0.5 + random));
  if (view.tripped) return { do: 'hold', delayMs };
  if (view.counting) return now >= Math.min(heldAt + holdMs, deadline) ? { do: 'fail' } : { do: 'hold', delayMs };
  return { do: 'resend' };
}

/** The reason a tripped refusal breaker gives the run and the tenant (shown by `status`, sent with the alert). */
export function refusalBlockedReason(graphMessage: string, rows: number): string {
  return `${graphMessage} (the same 400 for ${rows} distinct rows in a row; ${REFUSAL_HINT})`;
}
