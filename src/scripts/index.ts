import { readdirSync, readFileSync } from 'node:fs';
import type { RedisClient } from '../interfaces.js';

/**
 * Every Lua script of the project lives in this folder, named as BullMQ names its commands:
 * `<whatItDoes>-<number of KEYS>.lua`; each file's header documents its keys, arguments and replies.
 * This is the one loader: scripts run by SHA (ioredis' defineCommand falls back to EVAL once per connection).
 * A line `--- @include "<name>"` is replaced by includes/<name>.lua (as BullMQ's own commands share code), so a
 * block that several scripts need, such as finishing a run, is written once.
 */
export const SCRIPT_NAMES = [
  'admitRows',
  'createRun',
  'cancelRun',
  'cancelQueuedRows',
  'claimRow',
  'recordOutcome',
  'finishImport',
  'requeueRow',
  'reserveSendSlot',
  'registerThrottle',
  'extendLockIfOwner',
  'releaseLockIfOwner',
  'openRun',
  'setRunBlocked',
  'pruneRun',
  'forgetFingerprints',
  'recordRefusal',
  'breakRefusalRun',
  'confirmSnapshotValues',
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

export interface ScriptSource {
  lua: string;
  numberOfKeys: number;
}

const FILE_NAME = /^([A-Za-z]+)-(\d+)\.lua$/;
const INCLUDE = /^--- @include "([A-Za-z]+)"$/gm;
let scripts: Map<string, ScriptSource> | undefined;

function loadScripts(): Map<string, ScriptSource> {
  if (scripts) return scripts;
  const dir = new URL('./', import.meta.url);
  scripts = new Map();
  for (const file of readdirSync(dir)) {
    const match = FILE_NAME.exec(file);
    if (!match) continue;
    const lua = readFileSync(new URL(file, dir), 'utf8').replace(INCLUDE, (_line, name: string) =>
      readFileSync(new URL(`includes/${name}.lua`, dir), 'utf8'),
    );
    scripts.set(match[1], { lua, numberOfKeys: Number(match[2]) });
  }
  return scripts;
}

/** A script's Lua as Redis runs it (includes expanded) and its key count. */
export function scriptSource(name: ScriptName): ScriptSource {
  const script = loadScripts().get(name);
  if (!script) throw new Error(`no Lua script named ${name} in src/scripts`);
  return script;
}

type ScriptCommand = (...keysAndArgs: (string | number)[]) => Promise<unknown>;

/** Runs a script with exactly the keys its file name declares (a wrong count is a bug, caught before Redis sees it). */
export function runScript(
  redis: RedisClient,
  name: ScriptName,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  const script = scriptSource(name);
  if (keys.length !== script.numberOfKeys) throw new Error(`script ${name} takes ${script.numberOfKeys} keys, got ${keys.length}`);
  const commands = redis as unknown as Record<string, ScriptCommand | undefined>;
  let command = commands[name];
  if (typeof command !== 'function') {
    redis.defineCommand(name, { lua: script.lua, numberOfKeys: script.numberOfKeys });
    command = commands[name]!;
  }
  return command.call(redis, ...keys, ...args);
}
