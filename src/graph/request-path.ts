/**
 * The second guard on where requests go: whatever the validation upstream let through, the client builds no request
 * whose path is not exactly one of the allowed shapes. A shape is a path with `{id}` where one id segment goes.
 * An id segment is one non-empty, percent-encoded path segment that URL resolution cannot remove or climb out
 * of (`.`, `..` and their encoded forms), with no `/ ? #` and no raw control characters or spaces.
 */
export const PATCH_PATH_SHAPES = [
  '/deviceAppManagement/mobileAppConfigurations/{id}/userStatuses/{id}',
  '/deviceAppManagement/iosLobAppProvisioningConfigurations/{id}/userStatuses/{id}',
] as const;

const ID_SEGMENT = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+$/;

function isSafeIdSegment(segment: string): boolean {
  if (!ID_SEGMENT.test(segment)) return false;
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    return false;
  }
  // Dot segments (also when encoded: some servers decode before resolving), separators, controls and Cf characters.
  if (/^\.+$/.test(decoded) || /[/\\?#]/.test(decoded) || /[\u0000-\u001f\u007f-\u009f\s]/.test(decoded) || /\p{Cf}/u.test(decoded))
    return false;
  return true;
}

/** True when `path` is exactly one of `shapes`, each `{id}` being one safe id segment. */
export function pathMatchesShape(path: string, shapes: readonly string[]): boolean {
  const segments = path.split('/');
  return shapes.some((shape) => {
    const parts = shape.split('/');
    if (parts.length !== segments.length) return false;
    return parts.every((part, i) => (part === '{id}' ? isSafeIdSegment(segments[i]) : part === segments[i]));
  });
}

export class RequestPathError extends Error {
  override name = 'RequestPathError';
}

/** Throws unless `path` has one of the allowed shapes; the message quotes at most 200 characters of it. */
export function assertRequestPath(path: string, shapes: readonly string[]): string {
  if (!pathMatchesShape(path, shapes)) {
    throw new RequestPathError(
      `refusing to send a request ` +
        `to ${JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}…` : path)}: not ` +
        `one of the allowed Graph paths`,
    );
  }
  return path;
}
