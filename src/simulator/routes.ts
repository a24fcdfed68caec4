export const COLLECTIONS = ['mobileAppConfigurations', 'iosLobAppProvisioningConfigurations'] as const;
export type Collection = (typeof COLLECTIONS)[number];

export interface UserStatusRoute {
  version: 'beta' | 'v1.0';
  collection: Collection;
  configId: string;
  userStatusId: string;
  /** Where the object lives in the store; the API version does not matter to Graph's data. */
  key: string;
}

/** The collection of one configuration's user statuses: what GET lists. */
export interface UserStatusListRoute {
  version: 'beta' | 'v1.0';
  collection: Collection;
  configId: string;
  /** The still-encoded path, which nextLinks repeat as it came. */
  rawPath: string;
  /** Every stored key of this list starts with it. */
  keyPrefix: string;
}

export type RouteMatch =
  | { kind: 'userStatus'; route: UserStatusRoute }
  | { kind: 'list'; route: UserStatusListRoute }
  | { kind: 'badEncoding'; segment: string }
  | { kind: 'unknown' };

/** Strips the query string; the raw (still percent-encoded) path is what the request log records. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * Matched by hand on the raw path rather than by the router, so that an id containing an
 * encoded "/" (%2F) stays one segment, as it does for Graph.
 */
export function matchUserStatusPath(rawPath: string): RouteMatch {
  const raw = rawPath.split('/');
  const parts = splitKeyInParentheses(raw);
  if (parts === undefined) return { kind: 'badEncoding', segment: raw[3] };
  if (parts.length === 6) return matchListPath(rawPath, parts);
  if (parts.length !== 7 || parts[0] !== '') return { kind: 'unknown' };
  const [, version, root, collection, rawConfigId, userStatuses, rawUserStatusId] = parts;
  if (version !== 'beta' && version !== 'v1.0') return { kind: 'unknown' };
  if (root !== 'deviceAppManagement' || userStatuses !== 'userStatuses') return { kind: 'unknown' };
  if (!(COLLECTIONS as readonly string[]).includes(collection)) return { kind: 'unknown' };

  const configId = safeDecode(rawConfigId);
  if (configId === undefined) return { kind: 'badEncoding', segment: rawConfigId };
  const userStatusId = safeDecode(rawUserStatusId);
  if (userStatusId === undefined) return { kind: 'badEncoding', segment: rawUserStatusId };
  if (configId === '' || userStatusId === '') return { kind: 'unknown' };

  return {
    kind: 'userStatus',
    route: {
      version,
      collection: collection as Collection,
      configId,
      userStatusId,
      key: `${collection}/${configId}/${userStatusId}`,
    },
  };
}

function matchListPath(rawPath: string, parts: string[]): RouteMatch {
  const [empty, version, root, collection, rawConfigId, userStatuses] = parts;
  if (empty !== '' || (version !== 'beta' && version !== 'v1.0')) return { kind: 'unknown' };
  if (root !== 'deviceAppManagement' || userStatuses !== 'userStatuses') return { kind: 'unknown' };
  if (!(COLLECTIONS as readonly string[]).includes(collection)) return { kind: 'unknown' };
  const configId = safeDecode(rawConfigId);
  if (configId === undefined) return { kind: 'badEncoding', segment: rawConfigId };
  if (configId === '') return { kind: 'unknown' };
  return {
    kind: 'list',
    route: { version, collection: collection as Collection, configId, rawPath, keyPrefix: `${collection}/${configId}/` },
  };
}

/**
 * Graph writes a key in OData's parentheses form (`mobileAppConfigurations('<id>')`, a quote inside the id doubled),
 * as its nextLinks do, and accepts it on requests; it is turned into the key-as-segment form here (re-encoded), so
 * both forms reach the same routes. Returns undefined when the quoted key is not correctly percent-encoded.
 */
function splitKeyInParentheses(parts: string[]): string[] | undefined {
  const match = parts.length >= 4 ? /^([A-Za-z]+)\((.*)\)$/.exec(parts[3]) : null;
  if (!match) return parts;
  const inner = safeDecode(match[2]);
  if (inner === undefined) return undefined;
  const quoted = /^'((?:[^']|'')*)'$/.exec(inner);
  // An unquoted key is not an id here: keep the segment as it is, so the path matches nothing.
  if (!quoted) return parts;
  return [...parts.slice(0, 3), match[1], encodeURIComponent(quoted[1].replace(/''/g, "'")), ...parts.slice(4)];
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
