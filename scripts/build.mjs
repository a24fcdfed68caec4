#!/usr/bin/env node
// Builds what the package's bin runs: the CLI and everything it imports, bundled by esbuild into dist/cli/ (ES modules,
// one lazily loaded chunk per command, source maps beside them). One bundle instead of several hundred module files
// is why a worker reaches its first PATCH sooner: Node 20 spends most of a start resolving, reading and compiling
// modules one by one (issue 8's fleet bench). Type checking is `npm run typecheck`; esbuild only strips the types.
import { cpSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/cli');

// Left to node_modules, loaded from there at run time: packages that read their own files (Bull Board's UI),
// native or optional add-ons that may be absent, and the large ones only `serve`, AZURE_* credentials or a
// PostgreSQL source need, which every other command never loads.
const EXTERNAL = ['@bull-board/*', '@azure/identity', 'pg', 'pg-cursor', 'pg-native', 'msgpackr-extract', 'pino-pretty'];

rmSync(join(root, 'dist'), { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { index: 'src/cli/index.ts' },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  sourcemap: true,
  external: EXTERNAL,
  chunkNames: 'chunk-[hash]',
  // The CommonJS packages in the bundle (BullMQ, ioredis...) call require() for Node's own modules.
  banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
  logLevel: 'warning',
});

// Files the code reads next to itself (`new URL('./…', import.meta.url)`): every chunk sits in dist/cli/, so they go there.
cpSync(join(root, 'src/scripts'), out, { recursive: true, filter: (from) => !from.endsWith('.ts') });
cpSync(join(root, 'src/cli/demo-sample.csv'), join(out, 'demo-sample.csv'));
process.stdout.write(`built dist/cli/ (bundle of src/cli/index.ts, Lua scripts, demo sample)\n`);
