#!/usr/bin/env node
// Copies every non-TypeScript file under src/ and jobs/ (Lua scripts, the demo sample, anything read through
// `new URL(..., import.meta.url)`) to the same relative place under dist/, so the compiled code finds it.
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let copied = 0;
for (const top of ['src', 'jobs']) {
  if (!existsSync(join(root, top))) continue;
  for (const entry of readdirSync(join(root, top), { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || entry.name.endsWith('.ts')) continue;
    const from = join(entry.parentPath, entry.name);
    cpSync(from, join(root, 'dist', from.slice(root.length + 1)));
    copied++;
  }
}
process.stdout.write(`copied ${copied} asset files to dist/\n`);
