import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const SYSTEM_CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/**
 * Headless Chromium for the browser tests: Debian's /usr/bin/chromium when installed, otherwise the binary
 * shipped in the npm package @sparticuz/chromium (a devDependency), so the tests run on a machine without apt.
 * Minimal version; the lead keeps engineer A's test/support/browser.ts at merge.
 */
export async function launchBrowser(): Promise<Browser> {
  if (existsSync(SYSTEM_CHROMIUM)) return chromium.launch({ executablePath: SYSTEM_CHROMIUM, args: ARGS });
  const sparticuz = (await import('@sparticuz/chromium')).default;
  return chromium.launch({ executablePath: await sparticuz.executablePath(), args: [...sparticuz.args, ...ARGS], headless: true });
}
