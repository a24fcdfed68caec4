/**
 * Seeded randomness for tests that pick random moments: the same seed gives the same choices, so a failure can be
 * replayed with TEST_SEED=<seed printed by the test>. The generator is the simulator's own (mulberry32).
 */
export { createRng as seededRandom } from '../../src/simulator/faults.js';

/** TEST_SEED when set, else a fixed default: CI runs the same sequence every time. */
export function testSeed(fallback = 20261128): number {
  const fromEnv = Number(process.env.TEST_SEED);
  return Number.isInteger(fromEnv) ? fromEnv : fallback;
}
