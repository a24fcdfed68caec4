/**
 * Preloaded into a measured child process (`node --import tsx --import ./test/bench/peak-rss.ts ...`):
 * on exit it writes the process's peak resident memory to BENCH_PEAK_RSS_FILE. On Linux that is VmHWM,
 * the kernel's own high-water mark; elsewhere the highest `rss` sampled every 100 ms.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const target = process.env.BENCH_PEAK_RSS_FILE;
if (target) {
  let sampled = process.memoryUsage.rss();
  const timer = setInterval(() => (sampled = Math.max(sampled, process.memoryUsage.rss())), 100);
  timer.unref();
  process.on('exit', () => {
    let peak = Math.max(sampled, process.memoryUsage.rss());
    try {
      const hwm = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
      if (hwm) peak = Number(hwm[1]) * 1024;
    } catch {
      // not Linux: keep the sampled figure
    }
    writeFileSync(target, String(peak));
  });
}
