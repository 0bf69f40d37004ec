// A real OpenID Connect provider (panva's oidc-provider, unmodified) for
// cubby's login tests. tests/src/oidc.rs starts it; it can also run by hand:
//
//   node tests/oidc/provider.mjs CONFIG.json [PORT]
//
// (or OIDC_TEST_CONFIG / OIDC_TEST_PORT in the environment). It listens on
// 127.0.0.1 only (port 0 picks a free one), and once ready prints exactly one
// line to stdout:
//
//   oidc listening on http://127.0.0.1:PORT
//
// That URL is the issuer. Logs (provider warnings, grant errors) go to stderr.
// The process exits when its stdin closes, so it never outlives the test
// that started it (set OIDC_TEST_KEEP_ALIVE=1 to run it in the background).
//
// CONFIG.json (every key optional):
//
//   {
//     "clients": [{
//       "client_id": "cubby", "client_secret": "cubby-secret",
//       "redirect_uris": ["http://127.0.0.1/auth/callback"],
//       "application_type": "native",           // loopback redirect URIs match any port (RFC 8252 §7.3)
//       "token_endpoint_auth_method": "client_secret_basic"   // or client_secret_post
//     }],
//     "accounts": {"ann": {"name": "Ann", "role": "teacher",
//                          "groups": ["7b", {"id": "8a", "name": "Class 8A"}]}},
//     "accessTokenTtl": 2,          // seconds (default 3600)
//     "codeAccessTokenTtl": 5,      // seconds, for the access token of a code grant (a login)
//                                   // only; refresh grants keep accessTokenTtl (default: the same)
//     "idTokenTtl": 3600,           // seconds
//     "refreshTokenTtl": 1209600,   // seconds
//     "rotateRefreshTokens": true,  // default true: each refresh consumes the old token
//     "clockTolerance": 0,          // seconds a token stays usable past its exp (provider default: 15)
//     "extraClaims": ["classes"]    // more claim names released with the `profile` scope
//   }
//
// Clients get grant_types ["authorization_code", "refresh_token"] and
// response_types ["code"] unless they say otherwise. PKCE (S256) is required
// of every client. Scopes: openid, profile, offline_access. A refresh token is
// issued on every code grant, whatever the scope.
//
// Login: the provider's own development interactions: GET /interaction/:uid
// shows a form that takes any login name (and any password); a consent form
// follows. The login name is `sub`. Claims come from `accounts[login]`, read
// at the moment a token is issued (so a refresh sees replaced accounts):
// sub, preferred_username (= the login unless the account sets it), and every
// key of the account (name, role, groups, ...); a key set to null is left out.
// A login name that is not in `accounts` gets just sub and preferred_username.
// An account with "disabled": true does not exist for the provider: its
// refresh tokens are refused (invalid_grant).
//
// The `profile` scope releases name, preferred_username, groups and role
// (plus extraClaims); with conformIdTokenClaims off they are in the ID token
// as well as at userinfo.
//
// Test endpoints (loopback callers only):
//   GET  /__test/stats     {"refresh_grants", "code_grants", "refresh_errors", "code_errors",
//                           "refresh_held", "refresh_dropped", "key_fetches"}:
//                          successful / refused token-endpoint grants by type; refresh-grant
//                          requests held now, and held ones dropped because their caller
//                          hung up (see hold-refreshes); GET /jwks requests (key fetches)
//   POST /__test/accounts  body: the new `accounts` object (replaces all)
//   GET  /__test/accounts  the current accounts
//   POST /__test/hold-refreshes  body: {"hold": true|false}. While true, every refresh-grant
//                          request to the token endpoint waits, not yet handled (a slow
//                          provider, as long as a test likes); false lets every waiting one
//                          go on. A held request whose caller hangs up (say, the cubby that
//                          sent it was killed) is dropped unhandled: its refresh token is not
//                          used, as if the request had been lost on the way.
//   POST /__test/rotate-keys  replaces the signing key by a new one (a new `kid`), without a
//                          restart: the old key is gone from /jwks at once, and every token
//                          issued from now on is signed with the new key. Accounts, grants,
//                          refresh tokens and the counters stay. Answers {"kid": NEW_KID}.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const configPath = process.argv[2] ?? process.env.OIDC_TEST_CONFIG;
const port = Number(process.argv[3] ?? process.env.OIDC_TEST_PORT ?? 0);
const config = configPath ? JSON.parse(readFileSync(configPath, 'utf8')) : {};

let accounts = config.accounts ?? {};
const stats = {
  refresh_grants: 0,
  code_grants: 0,
  refresh_errors: 0,
  code_errors: 0,
  refresh_held: 0,
  refresh_dropped: 0,
  key_fetches: 0,
};

// Refresh grants held by /__test/hold-refreshes: the function that lets each go on.
let holdRefreshes = false;
const heldRefreshes = new Set();

const clients = (config.clients ?? []).map((client) => ({
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  ...client,
}));

const profileClaims = [
  'name',
  'preferred_username',
  'groups',
  'role',
  ...(config.extraClaims ?? []),
];

const seconds = (value, fallback) => (Number.isFinite(value) ? value : fallback);

function claimsOf(login) {
  const account = accounts[login] ?? {};
  const claims = { sub: login, preferred_username: login, ...account };
  delete claims.disabled;
  for (const [key, value] of Object.entries(claims)) {
    if (value === null) delete claims[key];
  }
  claims.sub = login;
  return claims;
}

function isLoopback(address) {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
}

function sendJson(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

async function testEndpoint(req, res) {
  const path = new URL(req.url, 'http://127.0.0.1').pathname;
  if (req.method === 'GET' && path === '/__test/stats') {
    return sendJson(res, 200, stats);
  }
  if (req.method === 'GET' && path === '/__test/accounts') {
    return sendJson(res, 200, accounts);
  }
  if (req.method === 'POST' && path === '/__test/accounts') {
    let body;
    try {
      body = await readJson(req);
    } catch (err) {
      return sendJson(res, 400, { error: `invalid JSON: ${err.message}` });
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return sendJson(res, 400, { error: 'expected an object of accounts' });
    }
    accounts = body;
    return sendJson(res, 200, accounts);
  }
  if (req.method === 'POST' && path === '/__test/hold-refreshes') {
    let body;
    try {
      body = await readJson(req);
    } catch (err) {
      return sendJson(res, 400, { error: `invalid JSON: ${err.message}` });
    }
    if (typeof body?.hold !== 'boolean') {
      return sendJson(res, 400, { error: 'expected {"hold": true|false}' });
    }
    holdRefreshes = body.hold;
    if (!holdRefreshes) {
      for (const release of heldRefreshes) release();
      heldRefreshes.clear();
    }
    return sendJson(res, 200, { hold: holdRefreshes });
  }
  if (req.method === 'POST' && path === '/__test/rotate-keys') {
    const key = newSigningKey();
    install(key);
    console.error(`signing key rotated: kid=${key.kid}`);
    return sendJson(res, 200, { kid: key.kid });
  }
  return sendJson(res, 404, { error: 'unknown test endpoint' });
}

// A token-endpoint request while refresh grants are held: read its body
// (handed to the provider as `req.body`, which oidc-provider takes when the
// stream is already read) and, for a refresh grant, wait until released or
// until the caller hangs up.
async function tokenRequest(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const raw = Buffer.concat(chunks).toString('utf8');
  req.body = raw;
  if (new URLSearchParams(raw).get('grant_type') === 'refresh_token' && holdRefreshes) {
    stats.refresh_held += 1;
    const outcome = await new Promise((resolve) => {
      const release = () => resolve('released');
      heldRefreshes.add(release);
      res.once('close', () => {
        heldRefreshes.delete(release);
        resolve('gone');
      });
    });
    stats.refresh_held -= 1;
    if (outcome === 'gone') {
      stats.refresh_dropped += 1;
      console.error('held refresh grant dropped: its caller hung up');
      return;
    }
  }
  providerCallback(req, res);
}

// Listen first: the issuer must carry the port the kernel picked.
let providerCallback;
const server = http.createServer((req, res) => {
  if (!isLoopback(req.socket.remoteAddress)) {
    res.writeHead(403).end();
    return;
  }
  if (req.url.startsWith('/__test/')) {
    testEndpoint(req, res).catch((err) => {
      console.error('test endpoint failed:', err);
      if (!res.headersSent) sendJson(res, 500, { error: String(err) });
    });
    return;
  }
  const path = new URL(req.url, 'http://127.0.0.1').pathname;
  if (req.method === 'GET' && path === '/jwks') stats.key_fetches += 1;
  if (req.method === 'POST' && path === '/token' && holdRefreshes) {
    tokenRequest(req, res).catch((err) => {
      console.error('held token request failed:', err);
      if (!res.headersSent) sendJson(res, 500, { error: String(err) });
    });
    return;
  }
  providerCallback(req, res);
});

await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

function newSigningKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomBytes(8).toString('hex');
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };
}

// One cookie key for every provider instance, so a rotation keeps the
// provider's browser sessions (its grants and tokens live in oidc-provider's
// in-memory adapter, which all instances of this process share).
const cookieKeys = [randomBytes(32).toString('hex')];

const counters = {
  refresh_token: ['refresh_grants', 'refresh_errors'],
  authorization_code: ['code_grants', 'code_errors'],
};

// A provider signing with `signingKey` (the only key in its /jwks).
function makeProvider(signingKey) {
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [signingKey] },
    cookies: { keys: cookieKeys },
    scopes: ['openid', 'profile', 'offline_access'],
    claims: {
      openid: ['sub'],
      profile: profileClaims,
    },
    conformIdTokenClaims: false,
    // The default (15 s) would keep an "expired" token working that much longer.
    clockTolerance: seconds(config.clockTolerance, 0),
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
    },
    issueRefreshToken: async () => true,
    // Tokens do not die with the provider's browser session.
    expiresWithSession: async () => false,
    rotateRefreshToken: () => config.rotateRefreshTokens !== false,
    ttl: {
      AccessToken: (ctx) => {
        const ttl = seconds(config.accessTokenTtl, 3600);
        return ctx?.oidc?.params?.grant_type === 'authorization_code'
          ? seconds(config.codeAccessTokenTtl, ttl)
          : ttl;
      },
      IdToken: () => seconds(config.idTokenTtl, 3600),
      RefreshToken: () => seconds(config.refreshTokenTtl, 14 * 24 * 3600),
      AuthorizationCode: 60,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
    },
    async findAccount(_ctx, sub) {
      if (accounts[sub]?.disabled) return undefined;
      return {
        accountId: sub,
        async claims() {
          return claimsOf(sub);
        },
      };
    },
  });

  provider.on('grant.success', (ctx) => {
    const grantType = ctx.oidc.params.grant_type;
    const [ok] = counters[grantType] ?? [];
    if (ok) stats[ok] += 1;
    console.error(`grant.success ${grantType} client=${ctx.oidc.client?.clientId}`);
  });
  provider.on('grant.error', (ctx, err) => {
    const grantType = ctx.oidc?.params?.grant_type;
    const [, failed] = counters[grantType] ?? [];
    if (failed) stats[failed] += 1;
    console.error(`grant.error ${grantType}: ${err.message} (${err.error_description ?? ''})`);
  });
  for (const event of ['authorization.error', 'userinfo.error', 'server_error']) {
    provider.on(event, (_ctx, err) => {
      console.error(`${event}: ${err.message} (${err.error_description ?? ''})`);
    });
  }
  return provider;
}

// Serves with a provider that signs with `signingKey`, from the next request on.
function install(signingKey) {
  providerCallback = makeProvider(signingKey).callback();
}

install(newSigningKey());

// Exit with the test that started us: it holds our stdin open
// (OIDC_TEST_KEEP_ALIVE=1 turns this off, for a provider run by hand).
if (!process.env.OIDC_TEST_KEEP_ALIVE) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
process.on('SIGTERM', () => process.exit(0));

process.stdout.write(`oidc listening on ${issuer}\n`);
