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

/** FIFOs of answers tests have queued for the next requests, one queue per method (PATCH unless the answer says GET). */
export class ForcedAnswers {
  private queues: Record<'GET' | 'PATCH', { remaining: number; answer: ForcedAnswer }[]> = { GET: [], PATCH: [] };

  push(n: number, answer: ForcedAnswer): void {
    if (!Number.isInteger(n) || n < 0) throw new Error(`injectNext: n must be a non-negative integer, got ${n}`);
    if (typeof answer?.status !== 'number' && !answer?.drop) throw new Error('injectNext: answer.status is required');
    const method = answer.method ?? 'PATCH';
    if (method !== 'GET' && method !== 'PATCH') throw new Error(`injectNext: answer.method must be GET or PATCH, got ${String(method)}`);
    if (n > 0) this.queues[method].push({ remaining: n, answer: { ...answer } });
  }

  take(method: 'GET' | 'PATCH' = 'PATCH'): ForcedAnswer | undefined {
    const queue = this.queues[method];
    const head = queue[0];
    if (!head) return undefined;
    head.remaining -= 1;
    if (head.remaining === 0) queue.shift();
    return head.answer;
  }

  clear(): void {
    this.queues = { GET: [], PATCH: [] };
  }
}

/** How one 429 looks (see ThrottleShape); one roll each, always both, so one share does not shift the other. */
export function decideThrottleShape(
  rng: () => number,
  shape: { missingRetryAfterShare: number; htmlBodyShare: number },
): { retryAfter: boolean; html: boolean } {
  const missingRoll = rng();
  const htmlRoll = rng();
  return { retryAfter: missingRoll >= shape.missingRetryAfterShare, html: htmlRoll < shape.htmlBodyShare };
}

/** Separate dice derived from the seed, so reads and 429 shapes never shift the PATCH fault sequence of a seed. */
export function derivedSeed(seed: number, salt: number): number {
  return ((seed >>> 0) ^ salt) >>> 0;
}
