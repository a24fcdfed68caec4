/**
 * Whether to follow one `@odata.nextLink`, and to which URL. Pure: the client owns the I/O and the listing's memory.
 *
 * Graph writes its nextLinks absolute, on the cloud's Graph host, often with the key in parentheses
 * (`…/mobileAppConfigurations('<id>')/userStatuses?…&$skiptoken=skipCount%3d100`). A proxy or the simulator in
 * GRAPH_BASE_URL answers the same way. So a link is followed only when:
 * - its origin is the configured cloud's Graph host or GRAPH_BASE_URL's (and it carries no user or password);
 * - its path is this very listing (same API version, collection and configuration), in either key form;
 * - it was not seen before in this listing, and the listing is not far past anything a configuration could hold.
 * The request then goes to GRAPH_BASE_URL (a link naming the cloud's Graph host is re-hosted onto it), on the
 * path we build ourselves, with only the link's query taken over. Nothing else of the link reaches a request.
 */

export interface NextLinkListing {
  /** The configured cloud's Graph origin, e.g. https://graph.microsoft.com. */
  cloudGraphHost: string;
  /** Where our requests go (GRAPH_BASE_URL, or the cloud's Graph host), without a trailing slash. */
  baseUrl: string;
  apiVersion: string;
  /** The collection segment, e.g. mobileAppConfigurations. */
  collection: string;
  /** The configuration id, not encoded. */
  configurationId: string;
}

export interface NextLinkProgress {
  /** Every URL requested so far in this listing (the first page's included). */
  requested: ReadonlySet<string>;
  /** Pages read so far, the one holding this link included. */
  pages: number;
  /** Items read so far. */
  items: number;
}

export interface ListingBounds {
  maxPages: number;
  maxItems: number;
}

/**
 * Far past any configuration: Intune assigns an app configuration to users of one tenant, and Entra tenants hold a
 * few hundred thousand users at most. At Graph's smallest usual page (50 items), 20,000 pages are a million statuses.
 */
export const DEFAULT_LISTING_BOUNDS: ListingBounds = { maxPages: 20_000, maxItems: 2_000_000 };

export type NextLinkDecision =
  | { action: 'follow'; url: string }
  /** Another host, path or form: following it could send the token elsewhere. */
  | { action: 'refuse'; reason: string }
  /** The listing loops or runs on without end: reading further cannot finish it. */
  | { action: 'stop'; reason: string };

/** The URL of the listing's first page (or, with a query, of any page), built from our own parts only. */
export function listingUrl(listing: NextLinkListing, search = ''): string {
  return (
    `${listing.baseUrl}/${listing.apiVersion}` +
    `/deviceAppManagement/${listing.collection}` +
    `/${encodeURIComponent(listing.configurationId)}/userStatuses${search}`
  );
}

export function decideNextLink(
  nextLink: unknown,
  listing: NextLinkListing,
  progress: NextLinkProgress,
  bounds: ListingBounds = DEFAULT_LISTING_BOUNDS,
): NextLinkDecision {
  const expected = listingUrl(listing);
  if (typeof nextLink !== 'string') return { action: 'refuse', reason: '@odata.nextLink is not a string' };
  let url: URL;
  try {
    url = new URL(nextLink);
  } catch {
    return { action: 'refuse', reason: '@odata.nextLink is not an absolute URL' };
  }
  const base = new URL(`${listing.baseUrl}/`);
  const cloud = new URL(`${listing.cloudGraphHost}/`);
  const refuse = (): NextLinkDecision => ({
    action: 'refuse',
    reason:
      `refusing to follow @odata.nextLink to ${url.origin}${url.pathname}: ` +
      `not ${expected}${cloud.origin !== base.origin ? ` (or the same listing on ${cloud.origin})` : ''}`,
  });
  if (url.username !== '' || url.password !== '' || (url.protocol !== 'https:' && url.protocol !== 'http:')) return refuse();
  // The base URL may carry a path of its own (a proxy's /graph/); the cloud's Graph host never does.
  const prefix =
    url.origin === base.origin && url.pathname.startsWith(base.pathname) ? base.pathname : url.origin === cloud.origin ? '/' : undefined;
  if (prefix === undefined || !isThisListing(url.pathname.slice(prefix.length), listing)) return refuse();

  const target = listingUrl(listing, url.search);
  if (progress.requested.has(target)) {
    return {
      action: 'stop',
      reason:
        `Graph's listing of ${listing.collection}/${listing.configurationId} loops: ` +
        `page ${progress.pages} links back to a page already read (${redactedQuery(url)})`,
    };
  }
  if (progress.pages >= bounds.maxPages || progress.items >= bounds.maxItems) {
    return {
      action: 'stop',
      reason:
        `Graph's listing of ${listing.collection}/${listing.configurationId} goes on ` +
        `past ${progress.pages} pages and ${progress.items} items, far more than a ` +
        `configuration holds: stopped reading it`,
    };
  }
  return { action: 'follow', url: target };
}

/** `<version>/deviceAppManagement/<collection>/<id>/userStatuses` or `…/<collection>('<id>')/userStatuses`, each segment decoded once. */
function isThisListing(path: string, listing: NextLinkListing): boolean {
  const raw = path.split('/');
  if (raw.some((s) => s === '')) return false;
  const parts = raw.map(safeDecode);
  if (parts.some((p) => p === undefined)) return false;
  const [version, root, ...rest] = parts as string[];
  if (version !== listing.apiVersion || root !== 'deviceAppManagement' || rest[rest.length - 1] !== 'userStatuses') return false;
  if (rest.length === 3) return rest[0] === listing.collection && rest[1] === listing.configurationId;
  if (rest.length !== 2) return false;
  const keyed = /^([A-Za-z]+)\('((?:[^']|'')*)'\)$/.exec(rest[0]);
  return keyed !== null && keyed[1] === listing.collection && keyed[2].replace(/''/g, "'") === listing.configurationId;
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** The query, cut short: a skiptoken is not a secret, but a message should stay one line. */
function redactedQuery(url: URL): string {
  return url.search.length > 120 ? `${url.search.slice(0, 120)}…` : url.search;
}
