// Second factors in a real browser (SPEC §11): a person sets up an
// authenticator app on the security page from its QR code's key, saves the
// recovery codes, signs in with a code; adds a passkey with Chromium's
// virtual authenticator (DevTools WebAuthn domain), then signs in with it
// alone and as the second step, and its signature count moves each time.
// Passkeys need a domain name: those checks run at TESSERA_PUBLIC_URL
// (http://localhost:PORT), the rest at TESSERA_ISSUER. axe-core checks
// each page (WCAG 2.2 A and AA).
import { createHmac } from 'node:crypto';
import { api, assert, check, exitCode, publicUrl, screenshot, violations, launch } from './lib.mjs';

/** RFC 4648 base32 (the key the page shows, spaces ignored) to bytes. */
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/\s/g, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const out = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(out);
}

/** The RFC 6238 code (SHA-1, 6 digits, 30 s) of `key` for `steps` steps from now. */
function totp(key, steps = 0) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + steps));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[19] & 15;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1000000).padStart(6, '0');
}

const password = 'correct horse battery staple 9';
const browser = await launch();
try {
  const made = await api('/auth/register', { method: 'POST', json: { username: 'nadia', password } });
  assert(made.status === 201, `registering nadia: ${JSON.stringify(made.body)}`);

  // Every page here runs under its own CSP (no bypass): the passkey script
  // must work within it. What the browser refuses under the CSP is
  // collected (a page answered with 4xx on purpose is not a refusal).
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const refused = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) refused.push(m.text());
  });
  /** axe on what `page` shows. */
  async function accessible(name) {
    const found = await violations(page);
    assert(found.length === 0, `${name}: ${found.join('; ')}`);
  }

  async function signInWithPassword() {
    await page.goto(`${publicUrl}/login?return_to=/account/security`);
    await page.fill('#username', 'nadia');
    await page.fill('#password', password);
    await page.click('form:not([data-passkey]) button[type=submit]');
  }

  let key;
  await check('an authenticator app is set up from the key beside the QR code, and the recovery codes shown once', async () => {
    await signInWithPassword();
    await page.waitForURL(`${publicUrl}/account/security`);
    await page.fill('#add_password', password);
    await page.click('button:has-text("Set up an authenticator app")');
    await page.waitForSelector('.qr svg');
    await screenshot(page, 'security-totp-setup');
    await accessible('the set-up page');
    key = base32(await page.textContent('.secret code'));
    await page.fill('#code', '000000');
    await page.click('button:has-text("Verify and turn on")');
    assert((await page.textContent('[role=alert]')).includes('did not work'), 'a wrong code is said');
    await page.fill('#code', totp(key));
    await page.click('button:has-text("Verify and turn on")');
    await page.waitForSelector('ol.codes');
    const codes = await page.$$eval('ol.codes code', (cs) => cs.map((c) => c.textContent));
    assert(codes.length === 10, `${codes.length} codes`);
    await screenshot(page, 'security-recovery-codes');
    await accessible('the recovery codes');
    await page.click('text=I have saved them');
    assert((await page.textContent('#mfa-title + p')).startsWith('On.'), 'two-step verification is on');
  });

  await check('signing in asks for the code after the password', async () => {
    await page.click('.sign-out button');
    await signInWithPassword();
    await page.waitForSelector('#code');
    await screenshot(page, 'sign-in-second-step');
    await accessible('the second step');
    await page.fill('#code', totp(key, 1));
    await page.click('form:not([data-passkey]) button[type=submit]');
    await page.waitForURL(`${publicUrl}/account/security`);
  });

  // Chromium's virtual authenticator: a platform authenticator with user
  // verification and resident keys, as a phone or a laptop has.
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  const signCount = async () => {
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert(credentials.length === 1, `${credentials.length} credentials`);
    return credentials[0].signCount;
  };

  let count;
  await check('a passkey is added on the security page with the browser\'s WebAuthn ceremony', async () => {
    await page.goto(`${publicUrl}/account/security`);
    await page.fill('#passkey_name', 'Laptop');
    await page.fill('#passkey_password', password);
    await page.click('button:has-text("Add a passkey")');
    await page.waitForSelector('.notice');
    assert((await page.textContent('.notice')) === 'Passkey added.', await page.textContent('.notice'));
    assert((await page.textContent('.factors')).includes('Laptop'), 'listed');
    await screenshot(page, 'security-passkey-added');
    await accessible('the security page with a passkey');
    count = await signCount();
  });

  await check('a passkey signs in on its own, and its signature count moves', async () => {
    await page.click('.sign-out button');
    await page.goto(`${publicUrl}/login?return_to=/account`);
    await screenshot(page, 'sign-in-passkey-button');
    await accessible('the login page with its passkey button');
    await page.click('button:has-text("Sign in with a passkey")');
    await page.waitForURL(`${publicUrl}/account`);
    const now = await signCount();
    assert(now > count, `sign count ${count} → ${now}`);
    count = now;
  });

  await check('a passkey is the second step after the password', async () => {
    await page.click('.sign-out button');
    await signInWithPassword();
    await page.click('button:has-text("Use your passkey instead")');
    await page.waitForURL(`${publicUrl}/account/security`);
    const now = await signCount();
    assert(now > count, `sign count ${count} → ${now}`);
    const events = await page.textContent('table.events');
    assert(events.includes('Two-step verification added'), 'the security events say so');
  });

  await check('the pages ran under their CSP with nothing refused', async () => {
    assert(refused.length === 0, refused.join('; '));
  });
  await ctx.close();
} finally {
  await browser.close();
}
process.exit(exitCode());
