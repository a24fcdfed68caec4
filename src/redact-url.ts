// Query parameters that commonly carry a secret (SAS signatures, API keys, OAuth codes).
const SECRET_PARAM = /^(token|access_token|code|sig|signature|secret|key|apikey|api_key|password|pwd|auth)$/i;

/**
 * Every URL that is logged or printed goes through this: the password masked (the user name stays, to tell
 * accounts apart), and the values of query parameters that usually hold secrets masked too.
 */
export function redactUrl(url: string, whenInvalid = '<invalid url>'): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const name of [...u.searchParams.keys()]) if (SECRET_PARAM.test(name)) u.searchParams.set(name, '***');
    return u.toString();
  } catch {
    return whenInvalid;
  }
}
