// Tessera against real Node.js OAuth/OIDC libraries.
//
// openid-client performs discovery, the authorization-code flow with PKCE
// (the login page driven with fetch and a small cookie jar, as a browser
// would), single sign-on for a second client, a refresh, userinfo,
// introspection, revocation and RP-initiated logout; jose
// (createRemoteJWKSet + jwtVerify) verifies the access and ID tokens from
// the JWKS by itself.
//
// Environment: TESSERA_ISSUER (the running Tessera, which is also its
// issuer), TESSERA_ADMIN_USERNAME and TESSERA_ADMIN_PASSWORD (an admin, to
// register the clients and the user this suite needs). Each check prints
// `PASS node: …` or `FAIL node: …`; the exit status is 1 if any failed.
//
// The blocks between `BEGIN docs/sso.md NAME` and `END docs/sso.md NAME` are
// quoted in docs/sso.md, and interop/check_docs.py fails when they drift apart.

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'

// BEGIN docs/sso.md node-verify
import { createRemoteJWKSet, jwtVerify } from 'jose'

const ISSUER = process.env.TESSERA_ISSUER ?? 'http://127.0.0.1:8080'
// One per process: it caches the keys and refetches on an unknown kid.
const JWKS = createRemoteJWKSet(new URL(`${ISSUER}/.well-known/jwks.json`))

/** The claims of a valid Tessera access token; throws otherwise. */
export async function verifyAccessToken(token) {
  const { payload } = await jwtVerify(token, JWKS, {
    algorithms: ['ES256'], // TESSERA_JWT_ALG, pinned: never read from the token
    typ: 'at+jwt',
    issuer: ISSUER,
    audience: ISSUER, // TESSERA_AUDIENCE, which defaults to the issuer
    clockTolerance: 60,
    requiredClaims: ['exp', 'iat', 'nbf', 'sub', 'jti'],
  })
  return payload
}

/** The claims of an ID token issued to clientId; throws otherwise. */
export async function verifyIdToken(token, clientId, nonce) {
  const { payload } = await jwtVerify(token, JWKS, {
    algorithms: ['RS256'], // unless the client registered another algorithm
    issuer: ISSUER,
    audience: clientId,
    clockTolerance: 60,
    requiredClaims: ['exp', 'iat', 'sub'],
  })
  if (payload.nonce !== nonce) throw new Error('nonce does not match the authorization request')
  return payload
}
// END docs/sso.md node-verify

// BEGIN docs/sso.md node-client
import * as client from 'openid-client'

/** At start-up: discover Tessera and describe this application. */
export async function configure(clientId, clientSecret) {
  return client.discovery(
    new URL(ISSUER),
    clientId,
    clientSecret,
    clientSecret ? client.ClientSecretBasic() : client.None(),
    // Only for an http:// issuer (development on loopback).
    { execute: ISSUER.startsWith('http://') ? [client.allowInsecureRequests] : [] },
  )
}

/** The login route: keep verifier, state and nonce in the user's session, redirect to `url`. */
export async function startLogin(config, redirectUri, scope = 'openid profile email') {
  const codeVerifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  })
  return { url, codeVerifier, state, nonce }
}

/** The callback route: checks state and iss, redeems the code with the verifier, checks the ID token. */
export async function finishLogin(config, callbackUrl, { codeVerifier, state, nonce }) {
  return client.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  })
}
// END docs/sso.md node-client

const TIMEOUT_MS = 10_000
const ADMIN_USERNAME = process.env.TESSERA_ADMIN_USERNAME ?? 'admin'
const ADMIN_PASSWORD = process.env.TESSERA_ADMIN_PASSWORD

// Where the applications would receive their redirects. Nothing listens
// there: the suite reads the Location header instead of following it.
const WEB_CALLBACK = 'https://web.node.example/callback'
const WEB_SIGNED_OUT = 'https://web.node.example/signed-out'
const SPA_CALLBACK = 'https://spa.node.example/callback'

const checks = []
const check = (name, fn) => checks.push([name, fn])
const state = {}

// --- helpers ------------------------------------------------------------------

async function api(method, path, { token, json, form } = {}) {
  const headers = {}
  if (token) headers.authorization = `Bearer ${token}`
  let body
  if (json) [headers['content-type'], body] = ['application/json', JSON.stringify(json)]
  if (form) body = new URLSearchParams(form)
  return fetch(`${ISSUER}${path}`, { method, headers, body, signal: AbortSignal.timeout(TIMEOUT_MS) })
}

const NAMED_ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }
const unescapeHtml = (s) =>
  s.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos);/gi, (_, e) =>
    e[0] !== '#'
      ? NAMED_ENTITIES[e.toLowerCase()]
      : String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)))

/** The first form of a page: method, action and its named inputs. */
function readForm(html) {
  const form = html.match(/<form\b([^>]*)>([\s\S]*?)<\/form>/i)
  assert.ok(form, 'the page has no form')
  const attrs = (tag) =>
    Object.fromEntries([...tag.matchAll(/([\w-]+)="([^"]*)"/g)].map(([, k, v]) => [k.toLowerCase(), unescapeHtml(v)]))
  const { method = 'get', action } = attrs(form[1])
  const inputs = {}
  for (const [tag] of form[2].matchAll(/<input\b[^>]*>/gi)) {
    const a = attrs(tag)
    if (a.name) inputs[a.name] = a.value ?? ''
  }
  return { method: method.toLowerCase(), action, inputs }
}

/** fetch with a cookie jar and no redirect following: a browser, as far as Tessera can tell. */
class Browser {
  jar = new Map()

  async fetch(url, init = {}) {
    const headers = new Headers(init.headers)
    if (this.jar.size) headers.set('cookie', [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '))
    const res = await fetch(url, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) })
    for (const cookie of res.headers.getSetCookie()) {
      const [pair, ...attributes] = cookie.split(';')
      const at = pair.indexOf('=')
      const [name, value] = [pair.slice(0, at).trim(), pair.slice(at + 1).trim()]
      if (attributes.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a))) this.jar.delete(name)
      else this.jar.set(name, value)
    }
    return res
  }

  /** A person at the login page: GET it, fill in the form, submit it. Returns the 303 answer. */
  async signIn(authorizationUrl, username, password) {
    const page = await this.fetch(authorizationUrl)
    assert.equal(page.status, 200, `GET /authorize answered ${page.status}`)
    assert.match(page.headers.get('content-type'), /^text\/html/)
    const form = readForm(await page.text())
    assert.equal(form.method, 'post')
    assert.equal(form.action, '/authorize')
    assert.ok(form.inputs.csrf_token && this.jar.has('tessera_csrf'))
    const answer = await this.fetch(new URL(form.action, authorizationUrl), {
      method: 'POST',
      body: new URLSearchParams({ ...form.inputs, username, password }),
    })
    assert.equal(answer.status, 303, `POST /authorize answered ${answer.status}: ${(await answer.text()).slice(0, 300)}`)
    return answer
  }
}

async function rejects(promise, what) {
  try {
    await promise
  } catch {
    return
  }
  throw new assert.AssertionError({ message: `${what} was accepted` })
}

// --- set-up through the admin API ---------------------------------------------

check('set-up: admin registers the clients, a user signs up', async () => {
  const login = await api('POST', '/auth/login', { json: { username: ADMIN_USERNAME, password: ADMIN_PASSWORD } })
  assert.equal(login.status, 200)
  const admin = (await login.json()).access_token
  const register = async (json) => {
    const r = await api('POST', '/admin/clients', { token: admin, json })
    assert.equal(r.status, 201, await r.clone().text())
    return r.json()
  }
  const web = await register({
    name: 'Node web app',
    redirect_uris: [WEB_CALLBACK],
    post_logout_redirect_uris: [WEB_SIGNED_OUT],
    grant_types: ['authorization_code', 'refresh_token'],
    // A resource server too: it may introspect tokens (RFC 7662).
    scopes: ['openid', 'profile', 'email', 'tessera:introspect'],
    confidential: true,
  })
  const spa = await register({
    name: 'Node single-page app',
    redirect_uris: [SPA_CALLBACK],
    grant_types: ['authorization_code', 'refresh_token'],
    scopes: ['openid', 'profile'],
    confidential: false,
  })
  state.web = { id: web.client.client_id, secret: web.client_secret }
  state.spa = { id: spa.client.client_id }
  const username = `node-${randomBytes(4).toString('hex')}`
  const password = randomBytes(18).toString('base64url')
  const r = await api('POST', '/auth/register', { json: { username, password, email: `${username}@example.com` } })
  assert.equal(r.status, 201, await r.clone().text())
  state.user = { username, password, id: (await r.json()).user.id }
})

// --- openid-client ------------------------------------------------------------

check('openid-client: discovery', async () => {
  state.config = await configure(state.web.id, state.web.secret)
  const meta = state.config.serverMetadata()
  assert.equal(meta.issuer, ISSUER)
  assert.equal(meta.authorization_endpoint, `${ISSUER}/authorize`)
  assert.equal(meta.token_endpoint, `${ISSUER}/oauth/token`)
  assert.equal(meta.jwks_uri, `${ISSUER}/.well-known/jwks.json`)
  assert.deepEqual(meta.code_challenge_methods_supported, ['S256'])
  assert.ok(meta.supportsPKCE())
})

check('openid-client: authorization code + PKCE through the login page, tokens verified with jose', async () => {
  const { config, user } = state
  const login = await startLogin(config, WEB_CALLBACK)
  assert.equal(login.url.searchParams.get('code_challenge_method'), 'S256')
  state.browser = new Browser()
  const answer = await state.browser.signIn(login.url, user.username, user.password)
  const location = answer.headers.get('location')
  assert.ok(location.startsWith(`${WEB_CALLBACK}?`), location)
  const session = answer.headers.getSetCookie().find((c) => c.startsWith('tessera_session='))
  assert.match(session, /;\s*HttpOnly/i)
  assert.match(session, /;\s*SameSite=Lax/i)
  assert.equal(/;\s*Secure/i.test(session), ISSUER.startsWith('https://'))

  const tokens = await finishLogin(config, new URL(location), login)
  assert.ok(tokens.refresh_token && tokens.id_token)
  assert.equal(tokens.token_type.toLowerCase(), 'bearer')
  const claims = await verifyAccessToken(tokens.access_token)
  assert.equal(claims.sub, user.id)
  assert.equal(claims.username, user.username)
  assert.equal(claims.client_id, state.web.id)
  const idClaims = await verifyIdToken(tokens.id_token, state.web.id, login.nonce)
  assert.equal(idClaims.sub, user.id)
  assert.equal(idClaims.email, `${user.username}@example.com`)
  assert.deepEqual(tokens.claims(), idClaims, 'openid-client read the same ID token')
  // Each verifier refuses the other kind of token.
  await rejects(verifyAccessToken(tokens.id_token), 'an ID token as an access token')
  await rejects(verifyIdToken(tokens.access_token, state.web.id, login.nonce), 'an access token as an ID token')
  state.tokens = tokens
  state.idToken = tokens.id_token
})

check('openid-client: a wrong state is refused before any code is redeemed', async () => {
  const login = await startLogin(state.config, WEB_CALLBACK)
  const answer = await state.browser.fetch(login.url)
  assert.equal(answer.status, 303, 'the browser is signed in')
  const callback = new URL(answer.headers.get('location'))
  await rejects(finishLogin(state.config, callback, { ...login, state: 'another' }), 'a response with the wrong state')
})

check('openid-client: single sign-on, a second (public) client gets a code without a password', async () => {
  const spa = await configure(state.spa.id)
  const login = await startLogin(spa, SPA_CALLBACK, 'openid profile')
  const answer = await state.browser.fetch(login.url)
  assert.equal(answer.status, 303, `expected a redirect straight back, got ${answer.status}`)
  const tokens = await finishLogin(spa, new URL(answer.headers.get('location')), login)
  assert.equal((await verifyAccessToken(tokens.access_token)).client_id, state.spa.id)
  const idClaims = await verifyIdToken(tokens.id_token, state.spa.id, login.nonce)
  assert.equal(idClaims.sub, state.user.id)
  assert.equal(idClaims.auth_time, tokens.claims().auth_time)
  assert.equal(idClaims.auth_time, state.tokens.claims().auth_time, 'one login, both applications')
  state.spaTokens = tokens
})

check('openid-client: refreshTokenGrant', async () => {
  const before = state.tokens
  const tokens = await client.refreshTokenGrant(state.config, before.refresh_token)
  assert.notEqual(tokens.access_token, before.access_token)
  assert.ok(tokens.refresh_token && tokens.refresh_token !== before.refresh_token)
  const claims = await verifyAccessToken(tokens.access_token)
  assert.equal(claims.sid, (await verifyAccessToken(before.access_token)).sid, 'a refresh keeps the session')
  // The refreshed ID token (when there is one) is about the same login; it carries no nonce.
  if (tokens.id_token) {
    const idClaims = await verifyIdToken(tokens.id_token, state.web.id, undefined)
    assert.equal(idClaims.sub, state.user.id)
    assert.equal(idClaims.auth_time, before.claims().auth_time)
  }
  state.tokens = tokens
})

check('openid-client: fetchUserInfo', async () => {
  const info = await client.fetchUserInfo(state.config, state.tokens.access_token, state.user.id)
  assert.equal(info.sub, state.user.id)
  assert.equal(info.preferred_username, state.user.username)
})

check('openid-client: tokenIntrospection and tokenRevocation', async () => {
  const { config, spaTokens } = state
  const live = await client.tokenIntrospection(config, spaTokens.access_token)
  assert.equal(live.active, true)
  assert.equal(live.sub, state.user.id)
  assert.equal(live.client_id, state.spa.id)
  // RFC 7009 §2.1: a client revokes only its own tokens; another's request changes nothing.
  await client.tokenRevocation(config, spaTokens.access_token)
  assert.equal((await client.tokenIntrospection(config, spaTokens.access_token)).active, true)
  // The public client revokes its own token (client_id alone, no secret).
  await client.tokenRevocation(await configure(state.spa.id), spaTokens.access_token)
  const dead = await client.tokenIntrospection(config, spaTokens.access_token)
  assert.equal(dead.active, false)
  assert.equal((await api('GET', '/auth/verify', { token: spaTokens.access_token })).status, 401)
})

check('openid-client: buildEndSessionUrl with id_token_hint ends the SSO session and its tokens', async () => {
  const { config, browser, tokens } = state
  assert.equal((await api('GET', '/auth/verify', { token: tokens.access_token })).status, 200)
  const url = client.buildEndSessionUrl(config, {
    id_token_hint: state.idToken,
    post_logout_redirect_uri: WEB_SIGNED_OUT,
    state: 'bye',
  })
  const answer = await browser.fetch(url)
  assert.equal(answer.status, 303)
  assert.equal(answer.headers.get('location'), `${WEB_SIGNED_OUT}?state=bye`)
  assert.ok(!browser.jar.has('tessera_session'), 'the session cookie is cleared')
  assert.equal((await api('GET', '/auth/verify', { token: tokens.access_token })).status, 401)
  await rejects(client.refreshTokenGrant(config, tokens.refresh_token), 'a refresh token of the ended session')
  const again = await startLogin(config, WEB_CALLBACK)
  assert.equal((await browser.fetch(again.url)).status, 200, 'the login page shows again')
})

let failed = 0
for (const [name, fn] of checks) {
  try {
    await fn()
    console.log(`PASS node: ${name}`)
  } catch (e) {
    failed += 1
    console.log(`FAIL node: ${name}`)
    console.log(e?.stack ?? e)
    if (e?.cause) console.log('cause:', e.cause)
  }
}
console.log(`node: ${checks.length - failed} passed, ${failed} failed`)
process.exitCode = failed ? 1 : 0
