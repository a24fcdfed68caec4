/**
 * A seeded PRNG (mulberry32) for tests that pick random moments: the same seed gives the same choices, so a
 * failure can be replayed with TEST_SEED=<seed printed by the test>.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** TEST_SEED when set, else a fixed default: CI runs the same sequence every time. */
export function testSeed(fallback = 20261128): number {
  const fromEnv = Number(process.env.TEST_SEED);
  return Number.isInteger(fromEnv) ? fromEnv : fallback;
}
