// Mailed links in a real browser (SPEC §12), with a real SMTP server:
// aiosmtpd keeps each mail Tessera sends in a Maildir (TESSERA_MAILDIR),
// which this suite reads. A person confirms their address from the link of
// the mail sent at registration (the page's button, not the link alone);
// forgets their password, asks for a link from the login page, follows it,
// chooses a new password and signs in with it. axe-core checks each page
// (WCAG 2.2 A and AA).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { api, assert, check, exitCode, issuer, screenshot, violations, launch } from './lib.mjs';

const maildir = process.env.TESSERA_MAILDIR;

/** Undoes quoted-printable (soft line breaks and =XX escapes). */
function unquote(text) {
  return text
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

/** The mails to `address` so far, oldest first, decoded. */
function mailsTo(address) {
  const dir = join(maildir, 'new');
  let names = [];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names
    .map((name) => readFileSync(join(dir, name), 'utf8'))
    .filter((mail) => new RegExp(`^X-RcptTo: .*${address.replace('.', '\\.')}`, 'mi').test(mail))
    .map(unquote);
}

/** Waits (up to 15 s) for mail number `n` to `address`. */
async function nthMail(address, n) {
  for (let i = 0; i < 150; i += 1) {
    const mails = mailsTo(address);
    if (mails.length >= n) return mails[n - 1];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`mail ${n} to ${address} did not arrive`);
}

/** The first link to `page` in `mail`. */
function link(mail, page) {
  const found = mail.match(new RegExp(`https?://[^\\s"<>]*${page}\\?token=[A-Za-z0-9_-]+`));
  assert(found, `no ${page} link in: ${mail.slice(0, 400)}`);
  return found[0];
}

const password = 'a passphrase for the mail suite';
const browser = await launch();
try {
  const made = await api('/auth/register', {
    method: 'POST',
    json: { username: 'mira', password, email: 'mira@example.com' },
  });
  assert(made.status === 201, `registering mira: ${JSON.stringify(made.body)}`);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  async function accessible(name) {
    const found = await violations(page);
    assert(found.length === 0, `${name}: ${found.join('; ')}`);
  }
  async function signIn(secret) {
    await page.goto(`${issuer}/login?return_to=/account/security`);
    await page.fill('#username', 'mira');
    await page.fill('#password', secret);
    await page.click('form:not([data-passkey]) button[type=submit]');
  }

  await check('the security page says the address is not confirmed and sends the link again', async () => {
    await signIn(password);
    await page.waitForURL(`${issuer}/account/security`);
    const section = await page.textContent('section[aria-labelledby=email-title]');
    assert(section.includes('not confirmed yet'), section);
    await screenshot(page, 'security-email-unconfirmed');
    await accessible('the security page with an unconfirmed address');
    await nthMail('mira@example.com', 1);
  });

  await check('the mailed link opens a page whose button confirms the address', async () => {
    const mail = await nthMail('mira@example.com', 1);
    assert(mail.includes('Subject: Confirm your email address'), 'the subject says what it is');
    assert(mail.includes("If this wasn't you"), 'the mail says what to do if it was not you');
    await page.goto(link(mail, '/verify-email'));
    await screenshot(page, 'verify-email');
    await accessible('the confirm page');
    const me = await page.context().request.get(`${issuer}/account/security`);
    assert((await me.text()).includes('not confirmed yet'), 'opening the link alone confirms nothing');
    await page.click('button:has-text("Confirm my address")');
    assert((await page.textContent('h1')).includes('Your address is confirmed'), await page.textContent('main'));
    await accessible('the confirmed page');
    await page.goto(`${issuer}/account/security`);
    const section = await page.textContent('section[aria-labelledby=email-title]');
    assert(section.includes('confirmed') && !section.includes('not confirmed'), section);
  });

  await check('a forgotten password is reset from the login page by mail', async () => {
    await page.click('.sign-out button');
    await page.goto(`${issuer}/login`);
    await page.click('a:has-text("Forgot your password?")');
    await page.waitForURL(`${issuer}/reset-password`);
    await screenshot(page, 'reset-request');
    await accessible('the reset request page');
    await page.fill('#account', 'MIRA@example.com');
    await page.click('button:has-text("Send me a link")');
    assert((await page.textContent('h1')).includes('Check your mail'), await page.textContent('main'));
    await accessible('the check-your-mail page');
    const mail = await nthMail('mira@example.com', 2);
    assert(mail.includes('Subject: Reset your'), 'a reset mail');
    await page.goto(link(mail, '/reset-password'));
    await screenshot(page, 'reset-password');
    await accessible('the new password page');
    await page.fill('#new_password', 'a brand new passphrase 7');
    await page.fill('#repeat', 'a different passphrase 7');
    await page.click('button:has-text("Set the new password")');
    assert((await page.textContent('#repeat-error')).includes('differ'), 'the repeat must match');
    await accessible('the new password page with an error');
    await page.fill('#new_password', 'a brand new passphrase 7');
    await page.fill('#repeat', 'a brand new passphrase 7');
    await page.click('button:has-text("Set the new password")');
    assert((await page.textContent('h1')).includes('Your password was changed'), await page.textContent('main'));
    await signIn('a brand new passphrase 7');
    await page.waitForURL(`${issuer}/account/security`);
    const events = await page.textContent('table.events');
    assert(events.includes('Password reset with a mailed link'), events);
  });

  await check('a used reset link says so and offers a new one', async () => {
    const mail = await nthMail('mira@example.com', 2);
    await page.goto(link(mail, '/reset-password'));
    assert((await page.textContent('h1')).includes('This link does not work'), await page.textContent('main'));
    await accessible('the dead link page');
  });
  await ctx.close();
} finally {
  await browser.close();
}
process.exit(exitCode());
