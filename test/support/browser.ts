/**
 * The one place tests start a browser. Debian's /usr/bin/chromium when it is installed; otherwise the headless
 * Chromium shipped in the @sparticuz/chromium npm package (a dev dependency, unpacked into the temp folder on first
 * use), so `npm ci && npm test` needs no system browser. TEST_CHROMIUM=npm uses the package even when
 * /usr/bin/chromium exists (to test that path); TEST_CHROMIUM=/path/to/chrome uses that binary.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const SYSTEM_CHROMIUM = '/usr/bin/chromium';

const COMMON_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Flags of @sparticuz/chromium meant for AWS Lambda that do not belong in a browser test: three weaken what it checks
 * (same-origin policy, mixed content), and --single-process makes the browser exit when the first context closes.
 */
const UNWANTED_PACKAGE_ARGS = new Set([
  '--disable-web-security',
  '--allow-running-insecure-content',
  '--disable-site-isolation-trials',
  '--single-process',
]);

export interface BrowserChoice {
  source: 'system' | 'npm' | 'env';
  executablePath: string;
  args: string[];
}

export async function chooseChromium(env: NodeJS.ProcessEnv = process.env): Promise<BrowserChoice> {
  const wanted = env.TEST_CHROMIUM;
  if (wanted && wanted !== 'npm' && wanted !== 'system') {
    if (!existsSync(wanted)) throw new Error(`TEST_CHROMIUM=${wanted} does not exist`);
    return { source: 'env', executablePath: wanted, args: COMMON_ARGS };
  }
  if (wanted !== 'npm' && existsSync(SYSTEM_CHROMIUM)) return { source: 'system', executablePath: SYSTEM_CHROMIUM, args: COMMON_ARGS };
  if (wanted === 'system') throw new Error(`TEST_CHROMIUM=system but ${SYSTEM_CHROMIUM} is missing`);
  const { default: packaged } = await import('@sparticuz/chromium');
  // Playwright adds its own --headless; the package's "--headless='shell'" spelling is for Puppeteer.
  const packageArgs = packaged.args.filter((arg) => !arg.startsWith('--headless') && !UNWANTED_PACKAGE_ARGS.has(arg));
  return { source: 'npm', executablePath: await packaged.executablePath(), args: [...new Set([...packageArgs, ...COMMON_ARGS])] };
}

/** Launches headless Chromium (see above); never skips: a browser that cannot start fails the test. */
export async function launchBrowser(): Promise<Browser> {
  const choice = await chooseChromium();
  try {
    return await chromium.launch({ executablePath: choice.executablePath, args: choice.args, headless: true });
  } catch (err) {
    throw new Error(`could not launch Chromium from ${choice.source} (${choice.executablePath}): ${(err as Error).message}`, {
      cause: err,
    });
  }
}
