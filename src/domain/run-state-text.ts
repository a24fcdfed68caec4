import type { RunStatus } from '../interfaces.js';

/**
 * What a finished run's state leaves unsaid: its rejected rows. They never reach Graph and never make a run
 * completed_with_errors (only failed rows and a broken import do), so "completed" alone reads as if every row went through.
 */
export function rejectedNote(s: Pick<RunStatus, 'state' | 'rejected'>): string {
  return (s.state === 'completed' || s.state === 'completed_with_errors') && s.rejected > 0 ? `, ${s.rejected} rejected` : '';
}

/** A run's state in words for people: "completed, 3 rejected"; JSON keeps `state` and `rejected` apart. */
export function runStateText(s: Pick<RunStatus, 'state' | 'rejected'>): string {
  return `${s.state}${rejectedNote(s)}`;
}
