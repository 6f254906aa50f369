// What the browser suites share: the running Tessera they test (TESSERA_ISSUER,
// and TESSERA_PUBLIC_URL for what needs a domain name), one PASS or FAIL line
// per check, Tessera's API, axe-core against WCAG 2.2 A and AA, screenshots
// (to TESSERA_SCREENSHOTS when it is set) and the system's Chromium.
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
export const issuer = process.env.TESSERA_ISSUER;
export const publicUrl = process.env.TESSERA_PUBLIC_URL || issuer;
const shots = process.env.TESSERA_SCREENSHOTS;
if (shots) mkdirSync(shots, { recursive: true });

let failed = 0;

/** Runs one check and prints its PASS or FAIL line. */
export async function check(name, body) {
  try {
    await body();
    console.log(`PASS ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}: ${e.message}`);
  }
}

/** The process's exit code: 1 when any check failed. */
export function exitCode() {
  return failed ? 1 : 0;
}

export function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Calls Tessera's JSON API. */
export async function api(path, { method = 'GET', token, json } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (json) headers['content-type'] = 'application/json';
  const r = await fetch(issuer + path, { method, headers, body: json && JSON.stringify(json) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** The WCAG 2.2 A and AA violations on the page, described. axe is
 * evaluated through DevTools, which the page's CSP does not govern. */
export async function violations(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } }),
  );
  return result.violations.map((v) => `${v.id} (${v.nodes.length}): ${v.help}`);
}

export async function screenshot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
}

/** The system's Chromium, headless. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
}
