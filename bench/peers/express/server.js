// Express + jsonwebtoken peer for bench/run.sh: POST /auth/login and
// GET /auth/verify as Tessera answers them, written the way Express's own
// production guide suggests (NODE_ENV=production, node:cluster with one worker
// per core, no request logging) and jsonwebtoken's README (keys as KeyObjects,
// algorithms pinned, issuer and audience checked).
//
// Environment: PEER_BIND (host:port), PEER_ALG (HS256 | ES256),
// PEER_HS_SECRET, PEER_EC_KEY (path to a PKCS#8 PEM P-256 private key),
// PEER_ISSUER, PEER_AUDIENCE, PEER_USERS (how many bench users),
// PEER_PASSWORD (their password). Users are bench-user-0000000, bench-user-0000001, …
'use strict';

const cluster = require('node:cluster');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');

const env = (name, fallback) => process.env[name] ?? fallback;

if (cluster.isPrimary) {
  // availableParallelism honours the CPU affinity (taskset).
  const workers = os.availableParallelism();
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('exit', (worker, code) => {
    if (code !== 0) console.error(`worker ${worker.process.pid} exited with ${code}`);
  });
  return;
}

const express = require('express');
const jwt = require('jsonwebtoken');
const argon2 = require('argon2');

const alg = env('PEER_ALG', 'HS256');
const issuer = env('PEER_ISSUER', 'http://peer.bench.test');
const audience = env('PEER_AUDIENCE', issuer);
const [host, port] = env('PEER_BIND', '127.0.0.1:18800').split(':');
const userCount = Number(env('PEER_USERS', '64'));
const password = env('PEER_PASSWORD', 'a long passphrase for load tests');

let signKey;
let verifyKey;
if (alg === 'HS256') {
  signKey = verifyKey = crypto.createSecretKey(Buffer.from(env('PEER_HS_SECRET', ''), 'utf8'));
} else if (alg === 'ES256') {
  signKey = crypto.createPrivateKey(fs.readFileSync(env('PEER_EC_KEY')));
  verifyKey = crypto.createPublicKey(signKey);
} else {
  throw new Error(`PEER_ALG must be HS256 or ES256, not ${alg}`);
}

// Argon2id at Tessera's parameters (OWASP: m=19 MiB, t=2, p=1).
const ARGON2 = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 };

async function main() {
  // Every bench user has the same password; one hash serves them all, and
  // each login still runs one full Argon2id verification.
  const hash = await argon2.hash(password, ARGON2);
  const users = new Map();
  for (let i = 0; i < userCount; i++) {
    users.set(`bench-user-${String(i).padStart(7, "0")}`, { id: crypto.randomUUID(), hash, roles: ['user'] });
  }
  // Unknown users are checked against a hash too, so both answers take as long.
  const dummy = await argon2.hash(crypto.randomBytes(16).toString('hex'), ARGON2);

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.post('/auth/login', express.json({ limit: '64kb' }), async (req, res) => {
    const { username, password: given } = req.body ?? {};
    if (typeof username !== 'string' || typeof given !== 'string') {
      return res.status(400).json({ error: 'validation_failed' });
    }
    const user = users.get(username.toLowerCase());
    let ok = false;
    try {
      ok = await argon2.verify(user ? user.hash : dummy, given);
    } catch {
      ok = false;
    }
    if (!user || !ok) return res.status(401).json({ error: 'invalid_credentials' });
    const token = jwt.sign(
      { username, roles: user.roles },
      signKey,
      {
        algorithm: alg,
        expiresIn: 900,
        issuer,
        audience,
        subject: user.id,
        jwtid: crypto.randomUUID(),
        header: { typ: 'at+jwt' },
      },
    );
    res.set('cache-control', 'no-store');
    return res.json({ access_token: token, token_type: 'Bearer', expires_in: 900 });
  });

  app.get('/auth/verify', (req, res) => {
    const auth = req.get('authorization') ?? '';
    const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i.exec(auth);
    if (!match) return res.status(401).set('www-authenticate', 'Bearer').end();
    let claims;
    try {
      claims = jwt.verify(match[1], verifyKey, {
        algorithms: [alg],
        issuer,
        audience,
        clockTolerance: 60,
      });
    } catch {
      return res.status(401).set('www-authenticate', 'Bearer error="invalid_token"').end();
    }
    res.set('x-auth-subject', String(claims.sub));
    res.set('x-auth-username', String(claims.username ?? ''));
    res.set('x-auth-roles', (claims.roles ?? []).join(','));
    return res.status(200).end();
  });

  app.get('/readyz', (_req, res) => res.status(200).end());

  app.listen(Number(port), host);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
