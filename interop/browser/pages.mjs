// Tessera's pages in a real browser: Playwright drives the system's Chromium
// (CHROMIUM, default /usr/bin/chromium) against a running Tessera
// (TESSERA_ISSUER, TESSERA_ADMIN_USERNAME, TESSERA_ADMIN_PASSWORD), and
// axe-core checks each page against WCAG 2.2 A and AA (lib.mjs). Second
// factors are factors.mjs's.
import { api, assert, check, exitCode, issuer, screenshot, violations, launch } from './lib.mjs';

const browser = await launch();
try {
  // What the browser fetched, and what it refused, for every page.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const fetched = [];
  const refused = [];
  page.on('request', (r) => fetched.push(r.url()));
  page.on('response', (r) => {
    if (r.status() >= 400) refused.push(`${r.status()} ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error') refused.push(m.text());
  });

  const doc = (await api('/openapi.json')).body;
  const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
  );

  await check('/docs shows every operation of /openapi.json, each reachable from the contents', async () => {
    const r = await page.goto(`${issuer}/docs`);
    assert(r.status() === 200, `status ${r.status()}`);
    const shown = await page.$$eval('main section:not(#schemas) article h3', (hs) =>
      hs.map((h) => h.querySelector('.method').textContent + ' ' + h.querySelector('code').textContent),
    );
    const missing = operations.filter((op) => !shown.includes(op));
    assert(missing.length === 0, `missing: ${missing.join(', ')}`);
    assert(shown.length === operations.length, `${shown.length} shown, ${operations.length} in the document`);
    const targets = await page.$$eval('nav a', (as) => as.map((a) => a.getAttribute('href').slice(1)));
    for (const id of targets) {
      assert((await page.$(`[id="${id}"]`)) !== null, `the contents link to #${id}, which is not there`);
    }
    const schemas = await page.$$eval('#schemas article h3', (hs) => hs.map((h) => h.textContent));
    assert(schemas.length === Object.keys(doc.components.schemas).length, `${schemas.length} schemas`);
    await screenshot(page, 'docs');
    await page.goto(`${issuer}/docs#post-oauth-token`);
    await screenshot(page, 'docs-oauth-token');
  });

  await check('/docs loads nothing from elsewhere and runs no script', async () => {
    const elsewhere = fetched.filter((u) => !u.startsWith(issuer));
    assert(elsewhere.length === 0, `fetched ${elsewhere.join(', ')}`);
    assert(fetched.some((u) => u === `${issuer}/assets/tessera.css`), 'the stylesheet was not loaded');
    assert(refused.length === 0, `the browser refused: ${refused.join('; ')}`);
    assert((await page.$$eval('script', (s) => s.length)) === 0, 'a script element');
    const color = await page.$eval('.method', (e) => getComputedStyle(e).fontWeight);
    assert(color === '700', 'the stylesheet does not apply (CSP?)');
  });

  await check('/docs is keyboard-usable: the first Tab reaches the skip link', async () => {
    await page.goto(`${issuer}/docs`);
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement.textContent);
    assert(focused === 'Skip to the operations', `focused: ${focused}`);
    await page.keyboard.press('Enter');
    assert(page.url().endsWith('#content'), page.url());
  });

  // axe is injected as a script, which the pages' CSP forbids: those checks
  // run in a context that bypasses it.
  const audit = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
  const auditPage = await audit.newPage();
  for (const scheme of ['light', 'dark']) {
    await check(`/docs has no WCAG 2.2 AA violations (${scheme})`, async () => {
      await auditPage.emulateMedia({ colorScheme: scheme });
      await auditPage.goto(`${issuer}/docs`);
      const found = await violations(auditPage);
      assert(found.length === 0, found.join('; '));
      if (scheme === 'dark') await screenshot(auditPage, 'docs-dark');
    });
  }

  const admin = await api('/auth/login', {
    method: 'POST',
    json: { username: process.env.TESSERA_ADMIN_USERNAME, password: process.env.TESSERA_ADMIN_PASSWORD },
  });
  const client = await api('/admin/clients', {
    method: 'POST',
    token: admin.body.access_token,
    json: {
      name: 'Browser suite',
      redirect_uris: ['http://127.0.0.1:9/callback'],
      grant_types: ['authorization_code'],
      scopes: ['openid', 'profile'],
      confidential: false,
    },
  });
  if (client.status !== 201) throw new Error(`registering the client: ${JSON.stringify(client.body)}`);
  const authorize = new URL(`${issuer}/authorize`);
  authorize.search = new URLSearchParams({
    response_type: 'code',
    client_id: client.body.client.client_id,
    redirect_uri: 'http://127.0.0.1:9/callback',
    scope: 'openid profile',
    state: 'xyz',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  }).toString();
  const hosted = [
    ['the login page', authorize.toString()],
    ['an error page', `${issuer}/authorize?client_id=nobody`],
  ];
  for (const [name, url] of hosted) {
    for (const scheme of ['light', 'dark']) {
      await check(`${name} has no WCAG 2.2 AA violations (${scheme})`, async () => {
        await auditPage.emulateMedia({ colorScheme: scheme });
        await auditPage.goto(url);
        const found = await violations(auditPage);
        assert(found.length === 0, found.join('; '));
        assert((await auditPage.title()) !== '', 'no title');
        await screenshot(auditPage, `${name.replaceAll(' ', '-')}-${scheme}`);
      });
    }
  }

  // ---- a person's own pages (SPEC §10) -------------------------------------
  const password = 'correct horse battery staple 9';
  const registered = await api('/auth/register', {
    method: 'POST',
    json: { username: 'alice', password },
  });
  if (registered.status !== 201) throw new Error(`registering alice: ${JSON.stringify(registered.body)}`);
  const phone = registered.body.access_token;

  /** A fresh browser context (its own cookies) at `width`, in `scheme`. */
  async function person(width = 1280, scheme = 'light') {
    const ctx = await browser.newContext({ viewport: { width, height: 900 }, colorScheme: scheme, bypassCSP: true });
    return { ctx, page: await ctx.newPage() };
  }
  async function signIn(page, username = 'alice') {
    await page.fill('#username', username);
    await page.fill('#password', password);
    await page.click('button[type=submit]');
  }

  await check('a person opens a page, signs in and comes back to it', async () => {
    const { ctx, page } = await person();
    await page.goto(`${issuer}/account/sessions`);
    assert(new URL(page.url()).pathname === '/login', page.url());
    assert((await page.textContent('.brand')).includes('Tessera'), 'the deployment is named');
    await signIn(page);
    await page.waitForURL(`${issuer}/account/sessions`);
    assert((await page.textContent('h1')) === 'Where you are signed in', await page.textContent('h1'));
    await ctx.close();
  });

  await check('the profile form says what is wrong next to the field, then saves', async () => {
    const { ctx, page } = await person();
    await page.goto(`${issuer}/account`);
    await signIn(page);
    await page.waitForURL(`${issuer}/account`);
    await page.fill('#email', 'alice-at-example');
    await page.fill('#first_name', '<b>Alice</b>');
    await page.click('text=Save profile');
    assert((await page.getAttribute('#email', 'aria-invalid')) === 'true', 'the field is marked');
    assert((await page.textContent('#email-error')).includes('name@example.com'), 'said in words');
    await page.fill('#email', 'alice@example.com');
    await page.click('text=Save profile');
    // A new address takes the current password.
    assert((await page.getAttribute('#profile_password', 'aria-invalid')) === 'true', 'the password is asked for');
    assert((await page.textContent('#profile_password-error')).includes('current password'), 'said in words');
    await page.fill('#profile_password', password);
    await page.click('text=Save profile');
    assert((await page.textContent('[role=status]')).includes('saved'), 'saved');
    const me = await api('/me', { token: phone });
    assert(me.body.user.email === 'alice@example.com' && me.body.user.first_name === '<b>Alice</b>', JSON.stringify(me.body));
    assert((await page.$('#first_name + b')) === null && (await page.inputValue('#first_name')) === '<b>Alice</b>', 'shown as text');
    await ctx.close();
  });

  await check('signing out another session from the sessions page refuses its token at once', async () => {
    const { ctx, page } = await person();
    await page.goto(`${issuer}/account/sessions`);
    await signIn(page);
    await page.waitForURL(`${issuer}/account/sessions`);
    assert((await page.$$('.session.current')).length === 1, 'this device is marked');
    const sid = JSON.parse(Buffer.from(phone.split('.')[1], 'base64url')).sid;
    await page.click(`form:has(input[name=session][value="${sid}"]) button`);
    assert((await page.textContent('[role=status]')) === 'Signed out.', 'a notice');
    assert((await page.$(`input[name=session][value="${sid}"]`)) === null, 'gone from the list');
    assert((await api('/me', { token: phone })).status === 401, 'the token is refused');
    await screenshot(page, 'account-sessions');
    await ctx.close();
  });

  await check('a cross-site form post changes nothing', async () => {
    const { ctx, page } = await person();
    await page.goto(`${issuer}/account`);
    await signIn(page);
    await page.waitForURL(`${issuer}/account`);
    // A page elsewhere (another origin) posting to Tessera in the person's browser.
    await page.setContent(`<form method="post" action="${issuer}/account/profile">
      <input name="first_name" value="Mallory"><input name="csrf_token" value="guess"></form>`);
    await Promise.all([page.waitForNavigation(), page.$eval('form', (f) => f.submit())]);
    const session = await api('/auth/login', { method: 'POST', json: { username: 'alice', password } });
    const me = await api('/me', { token: session.body.access_token });
    assert(me.body.user.first_name === '<b>Alice</b>', `changed: ${me.body.user.first_name}`);
    await ctx.close();
  });

  await check('a newcomer signs up from the login page', async () => {
    const { ctx, page } = await person(390);
    await page.goto(`${issuer}/login`);
    await page.click('text=Create an account');
    await page.fill('#username', 'newcomer');
    await page.fill('#password', 'password1234');
    await page.click('button[type=submit]');
    assert((await page.textContent('#password-error')).includes('too common'), 'the password is refused');
    await screenshot(page, 'register-refused-390');
    await page.fill('#password', password);
    await page.click('button[type=submit]');
    await page.waitForURL(`${issuer}/account`);
    assert((await page.inputValue('#username')) === 'newcomer', 'signed in');
    await ctx.close();
  });

  const accountPages = ['/account', '/account/sessions'];
  for (const [width, scheme] of [[1280, 'light'], [390, 'dark']]) {
    await check(`the account pages have no WCAG 2.2 AA violations (${width} px, ${scheme})`, async () => {
      const { ctx, page } = await person(width, scheme);
      await page.goto(`${issuer}/account`);
      await signIn(page);
      await page.waitForURL(`${issuer}/account`);
      for (const path of accountPages) {
        await page.goto(issuer + path);
        const found = await violations(page);
        assert(found.length === 0, `${path}: ${found.join('; ')}`);
        const wide = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
        assert(!wide, `${path} scrolls sideways at ${width} px`);
        await screenshot(page, `${path.slice(1).replaceAll('/', '-')}-${width}-${scheme}`);
      }
      await ctx.close();
    });
  }

  // ---- the console (SPEC §10) -------------------------------------------------
  const adminPassword = process.env.TESSERA_ADMIN_PASSWORD;
  async function adminSignedIn(width = 1280, scheme = 'light', path = '/console') {
    const { ctx, page } = await person(width, scheme);
    await page.goto(issuer + path);
    await page.fill('#username', process.env.TESSERA_ADMIN_USERNAME);
    await page.fill('#password', adminPassword);
    await page.click('button[type=submit]');
    await page.waitForURL(issuer + path);
    return { ctx, page };
  }

  await check('a person who is not an administrator gets the 403 page, with no data', async () => {
    const { ctx, page } = await person();
    await page.goto(`${issuer}/console/users`);
    await signIn(page);
    await page.waitForURL(`${issuer}/console/users`);
    assert((await page.textContent('h1')) === 'Administrators only', await page.textContent('h1'));
    assert((await page.$('table')) === null, 'no data');
    await ctx.close();
  });

  await check('an administrator finds a user and disables them after confirming; their token is refused at once', async () => {
    await api('/auth/register', { method: 'POST', json: { username: 'mallory', password } });
    const victim = await api('/auth/login', { method: 'POST', json: { username: 'mallory', password } });
    const { ctx, page } = await adminSignedIn();
    await page.goto(`${issuer}/console/users`);
    await page.fill('#q', 'mal');
    await page.click('text=Search');
    await page.click('a[href="/console/users/mallory"]');
    await page.click('text=Disable…');
    assert((await page.textContent('h1')) === 'Disable mallory?', 'asks first');
    assert((await api('/me', { token: victim.body.access_token })).status === 200, 'nothing yet');
    await page.click('button.danger');
    assert((await page.textContent('[role=status]')) === 'Disabled.', 'done');
    assert((await api('/me', { token: victim.body.access_token })).status === 401, 'refused at once');
    await ctx.close();
  });

  await check('a client is registered from the console with its secret shown once', async () => {
    const { ctx, page } = await adminSignedIn(1280, 'light', '/console/clients');
    await page.fill('#name', 'Reports');
    await page.uncheck('input[name=grant_authorization_code]');
    await page.uncheck('input[name=grant_refresh_token]');
    await page.check('input[name=grant_client_credentials]');
    await page.fill('#scopes', 'reports:read');
    await page.check('input[name=confidential]');
    await page.click('button:has-text("Register")');
    const secret = await page.textContent('code.secret');
    await screenshot(page, 'console-client-created');
    await page.goto(`${issuer}/console/clients`);
    assert(!(await page.content()).includes(secret), 'never shown again');
    await ctx.close();
  });

  await check('the live events page shows a revocation as it happens', async () => {
    const { ctx, page } = await adminSignedIn(1280, 'light', '/console/events');
    await page.waitForFunction(() => document.getElementById('stream-status').textContent.startsWith('Connected'));
    const session = await api('/auth/login', { method: 'POST', json: { username: 'alice', password } });
    await api('/auth/logout', { method: 'POST', token: session.body.access_token });
    const sid = JSON.parse(Buffer.from(session.body.access_token.split('.')[1], 'base64url')).sid;
    await page.waitForFunction((sid) => document.getElementById('events').textContent.includes(sid), sid, { timeout: 10000 });
    await screenshot(page, 'console-events');
    await ctx.close();
  });

  const consolePages = ['/console', '/console/users', '/console/users/alice', '/console/clients', '/console/keys', '/console/audit', '/console/events'];
  for (const [width, scheme] of [[1280, 'light'], [390, 'dark']]) {
    await check(`the console pages have no WCAG 2.2 AA violations (${width} px, ${scheme})`, async () => {
      const { ctx, page } = await adminSignedIn(width, scheme);
      for (const path of consolePages) {
        await page.goto(issuer + path);
        const found = await violations(page);
        assert(found.length === 0, `${path}: ${found.join('; ')}`);
        await screenshot(page, `${path.slice(1).replaceAll('/', '-')}-${width}-${scheme}`);
      }
      await ctx.close();
    });
  }
} finally {
  await browser.close();
}
process.exit(exitCode());
