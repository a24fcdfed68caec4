/** A connection URL with its password masked, for labels, logs and error messages; never the URL itself. */
export function redactUrlPassword(url: string, whenInvalid: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return whenInvalid;
  }
}
