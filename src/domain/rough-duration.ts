/** "about 11 h", "about 40 min", "about 3 d", "under a minute": a rough duration, rough on purpose. */
export function describeRoughDuration(ms: number): string {
  const minutes = ms / 60_000;
  if (minutes < 1) return 'under a minute';
  if (minutes < 90) return `about ${Math.round(minutes)} min`;
  const hours = minutes / 60;
  // One decimal while it matters (1.5 h is not 2 h); whole hours beyond ten.
  if (hours < 10) return `about ${Math.round(hours * 10) / 10} h`;
  if (hours < 48) return `about ${Math.round(hours)} h`;
  return `about ${Math.round(hours / 24)} d`;
}
