#!/usr/bin/env node
// The package's command: runs the compiled CLI in dist/ (`npm run build`, which `npm ci` runs through `prepare`).
// Node 22.1+ keeps a compile cache on disk, so later starts skip most of the parsing and compiling of the CLI's modules.
import module from 'node:module';

module.enableCompileCache?.();
try {
  await import('../dist/cli/index.js');
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/index.js')) {
    process.stderr.write('error: compliance-sync is not built; run `npm run build` (npm ci does it through `prepare`)\n');
    process.exit(1);
  }
  throw err;
}
