import { mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { OperatorError } from '../errors.js';
import { isValidRunId } from '../domain/run-id.js';

/**
 * A drop folder: new files appear in `dir`; each is claimed by renaming it into
 * `processing/<schedule>/<runId>~<name>` (rename is atomic on one filesystem, so two workers can never
 * claim the same file), and ends in `processed/` or `failed/`. The run id travels in the claimed name,
 * so a file left in processing/ by a crashed worker is resumed under the same run, never imported twice.
 */
export const SUBFOLDERS = { processing: 'processing', processed: 'processed', failed: 'failed' } as const;

// Names that writers use while a file is still being written, plus editor leftovers.
const PARTIAL_FILE = /(\.(tmp|temp|part|partial|crdownload|download|swp|lock)|~)$/i;

export class DropFolderError extends OperatorError {
  override name = 'DropFolderError';
}

export interface DropFile {
  name: string;
  path: string;
  mtimeMs: number;
}

export interface ClaimedFile {
  runId: string;
  /** The name the file had in the drop folder. */
  name: string;
  path: string;
}

const processingDir = (dir: string, scheduleName: string) => join(dir, SUBFOLDERS.processing, scheduleName);

export async function prepareDropFolder(dir: string, scheduleName: string): Promise<void> {
  let info;
  try {
    info = await stat(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DropFolderError(`drop folder ${dir} ${code === 'ENOENT' ? 'does not exist' : `cannot be read: ${code}`}`);
  }
  if (!info.isDirectory()) throw new DropFolderError(`drop folder ${dir} is not a directory`);
  await mkdir(join(dir, SUBFOLDERS.processed), { recursive: true });
  await mkdir(join(dir, SUBFOLDERS.failed), { recursive: true });
  await mkdir(processingDir(dir, scheduleName), { recursive: true });
}

/**
 * Regular files directly in the folder, oldest first. Hidden and partial files are skipped, and so is a
 * file modified within `settleMs`, since a writer may still be appending to it.
 */
export async function listNewFiles(dir: string, settleMs: number, now = Date.now()): Promise<DropFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: DropFile[] = [];
  for (const entry of entries) {
    if (!entry.isFile() || entry.name.startsWith('.') || PARTIAL_FILE.test(entry.name)) continue;
    const path = join(dir, entry.name);
    try {
      const info = await stat(path);
      if (now - info.mtimeMs >= settleMs) files.push({ name: entry.name, path, mtimeMs: info.mtimeMs });
    } catch {
      // Claimed or removed by someone else between readdir and stat.
    }
  }
  return files.sort((a, b) => a.mtimeMs - b.mtimeMs || a.name.localeCompare(b.name));
}

/** Files this schedule claimed but never finished (its worker died): to be resumed under their run id. */
export async function listInterrupted(dir: string, scheduleName: string): Promise<ClaimedFile[]> {
  const folder = processingDir(dir, scheduleName);
  const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
  return entries.flatMap((entry) => {
    const cut = entry.name.indexOf('~');
    // The run id comes back from a file name: one outside the run-id rule was not put there by us, and is left alone.
    if (!entry.isFile() || cut <= 0 || !isValidRunId(entry.name.slice(0, cut))) return [];
    return [{ runId: entry.name.slice(0, cut), name: entry.name.slice(cut + 1), path: join(folder, entry.name) }];
  });
}

/** Returns undefined when another worker (or another schedule on the same folder) took the file first. */
export async function claimFile(dir: string, scheduleName: string, file: DropFile, runId: string): Promise<ClaimedFile | undefined> {
  const path = join(processingDir(dir, scheduleName), `${runId}~${file.name}`);
  try {
    await rename(file.path, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return { runId, name: file.name, path };
}

/** A free name in `folder`: the original one, else `name.1.ext`, `name.2.ext`... (the same export may be dropped daily). */
async function freeName(folder: string, name: string): Promise<string> {
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let n = 0; ; n++) {
    const candidate = n === 0 ? name : `${stem}.${n}${ext}`;
    try {
      await stat(join(folder, candidate));
    } catch {
      return candidate;
    }
  }
}

/** Moves a claimed file to processed/ or failed/; a failed one gets `<name>.error.txt` beside it. Returns the new path. */
export async function finishFile(dir: string, claimed: ClaimedFile, outcome: 'processed' | 'failed', errorText?: string): Promise<string> {
  const folder = join(dir, SUBFOLDERS[outcome]);
  const name = await freeName(folder, claimed.name);
  const target = join(folder, name);
  if (outcome === 'failed' && errorText !== undefined) await writeFile(`${target}.error.txt`, errorText);
  await rename(claimed.path, target);
  return target;
}
