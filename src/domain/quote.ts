/**
 * Reasons and messages quote input values, and those values can be megabytes long: a reason is stored with its
 * row in Redis and printed, so it quotes at most MAX_QUOTED_CHARS characters of any value.
 */
export const MAX_QUOTED_CHARS = 200;

/** A value as a reason quotes it: in double quotes, cut to MAX_QUOTED_CHARS characters with "…" when longer. */
export function quoteValue(value: unknown): string {
  const text = String(value);
  return `"${text.length > MAX_QUOTED_CHARS ? `${text.slice(0, MAX_QUOTED_CHARS)}…` : text}"`;
}

/** Caps a whole message (e.g. a parser's, which may embed a field) to a readable length. */
export function capText(text: string, max = 2 * MAX_QUOTED_CHARS + 200): string {
  return text.length > max ? `${text.slice(0, max)}… (cut)` : text;
}
