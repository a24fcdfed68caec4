import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** Each Lua script is named for what it does; see the header of each .lua file for its keys and arguments. */
const SCRIPTS = {
  admitRows: 'admit-rows.lua',
  claimRow: 'claim-row.lua',
  recordOutcome: 'record-outcome.lua',
  finishImport: 'finish-import.lua',
  requeueRow: 'requeue-row.lua',
} as const;

export type ScriptName = keyof typeof SCRIPTS;
const sources = new Map<ScriptName, string>();

function source(name: ScriptName): string {
  let text = sources.get(name);
  if (!text) {
    text = readFileSync(new URL(`./scripts/${SCRIPTS[name]}`, import.meta.url), 'utf8');
    sources.set(name, text);
  }
  return text;
}

/** Runs a script by SHA, loading it once per connection (EVALSHA falls back to EVAL via ioredis' defineCommand). */
export function runScript(redis: Redis, name: ScriptName, keys: string[], args: (string | number)[]): Promise<unknown> {
  const commands = redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>;
  if (typeof commands[name] !== 'function') redis.defineCommand(name, { lua: source(name) });
  return commands[name](keys.length, ...keys, ...args);
}
