import type { FaultOptions, ForcedAnswer } from './options.js';

/** mulberry32: tiny, fast and good enough to make fault sequences reproducible from a seed. */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FaultDecision {
  kind: 'none' | '503' | '504' | 'drop';
  slow: boolean;
  applyBeforeDrop: boolean;
}

/**
 * Always draws three numbers so that changing one rate does not shift the sequence
 * the other faults see for the same seed.
 */
export function decideFault(rng: () => number, faults: Required<FaultOptions>): FaultDecision {
  const kindRoll = rng();
  const slowRoll = rng();
  const applyRoll = rng();
  let kind: FaultDecision['kind'] = 'none';
  if (kindRoll < faults.rateDrop) kind = 'drop';
  else if (kindRoll < faults.rateDrop + faults.rate503) kind = '503';
  else if (kindRoll < faults.rateDrop + faults.rate503 + faults.rate504) kind = '504';
  return {
    kind,
    slow: slowRoll < faults.rateSlow,
    applyBeforeDrop: applyRoll < faults.dropAfterApplyShare,
  };
}

/** FIFO of answers tests have queued for the next PATCH requests. */
export class ForcedAnswers {
  private queue: { remaining: number; answer: ForcedAnswer }[] = [];

  push(n: number, answer: ForcedAnswer): void {
    if (!Number.isInteger(n) || n < 0) throw new Error(`injectNext: n must be a non-negative integer, got ${n}`);
    if (typeof answer?.status !== 'number' && !answer?.drop) throw new Error('injectNext: answer.status is required');
    if (n > 0) this.queue.push({ remaining: n, answer: { ...answer } });
  }

  take(): ForcedAnswer | undefined {
    const head = this.queue[0];
    if (!head) return undefined;
    head.remaining -= 1;
    if (head.remaining === 0) this.queue.shift();
    return head.answer;
  }

  clear(): void {
    this.queue = [];
  }
}
