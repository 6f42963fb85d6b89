// A real OpenID Connect provider (panva/oidc-provider) for authgate's tests.
//
//   node server.mjs --port 4011 [--issuer http://127.0.0.1:4011] [--redirect-uri URI ...]
//
// Login and consent complete on their own: GET /interaction/<uid>[?account=<id>] signs in as
// <id> (default: the login_hint of the authorization request, else "alice") and grants the
// requested scopes, so a test drives the whole flow with an HTTP client that follows redirects.
//
// Accounts exist for any id. Claims for account <id>:
//   sub <id>; email <id> if it contains "@", else <id>@example.test; name "User <id>";
//   email_verified false when <id> starts with "unverified", true otherwise;
//   ids starting with "userinfo-only" put nothing but sub in the ID token, so the relying party
//   has to read email and name from the userinfo endpoint.
//
// Clients (secrets are test constants, also in tests/oidc_fixture.py):
//   authgate-test        client_secret_basic, ID tokens RS256
//   authgate-test-post   client_secret_post,  ID tokens ES256
// Both: response_types code, grant_types authorization_code, PKCE (S256) required.
// Prints "listening <issuer>" once the port is bound.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    issuer: { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true, default: [] },
  },
});
if (!args.port) {
  console.error('usage: node server.mjs --port N [--issuer URL] [--redirect-uri URI ...]');
  process.exit(2);
}
const port = Number(args.port);
const issuer = args.issuer ?? `http://${args.host}:${port}`;

const DEFAULT_REDIRECT_URIS = [
  'http://127.0.0.1/callback',
  'http://127.0.0.1/api/auth/callback/oidc',
  'http://localhost/api/auth/callback/oidc',
  'http://testserver/api/auth/callback/oidc',
  'https://testserver/api/auth/callback/oidc',
  // Two provider ids on one server: an untrusted one and one trusted for linking (pre-hijack tests).
  'https://testserver/api/auth/callback/sloppy',
  'https://testserver/api/auth/callback/corp',
];
const redirectUris = [...new Set([...DEFAULT_REDIRECT_URIS, ...args['redirect-uri']])];

function signingKey(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid: `${alg.toLowerCase()}-${randomUUID()}`, alg, use: 'sig' };
}

function claimsFor(accountId, use) {
  const email = accountId.includes('@') ? accountId : `${accountId}@example.test`;
  if (use === 'id_token' && accountId.startsWith('userinfo-only')) {
    return { sub: accountId };
  }
  return {
    sub: accountId,
    email,
    email_verified: !accountId.startsWith('unverified'),
    name: `User ${accountId}`,
    picture: `https://images.example.test/${encodeURIComponent(accountId)}.png`,
  };
}

const common = {
  redirect_uris: redirectUris,
  response_types: ['code'],
  grant_types: ['authorization_code'],
};

const provider = new Provider(issuer, {
  clients: [
    {
      ...common,
      client_id: 'authgate-test',
      client_secret: 'authgate-test-secret-0123456789abcdef',
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    {
      ...common,
      client_id: 'authgate-test-post',
      client_secret: 'authgate-test-post-secret-0123456789',
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: {
    keys: [
      signingKey('rsa', { modulusLength: 2048 }, 'RS256'),
      signingKey('ec', { namedCurve: 'P-256' }, 'ES256'),
    ],
  },
  cookies: { keys: ['authgate-oidc-test-cookie-key-not-secret'] },
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'picture'],
  },
  // Put scope-requested claims in the ID token (as Google, Keycloak and Auth0 do), not only in userinfo.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: true },
  },
  interactions: {
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  findAccount: (_ctx, sub) => ({
    accountId: sub,
    claims: (use) => claimsFor(sub, use),
  }),
  // First-party clients only: grant whatever was asked for instead of showing a consent page.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope ?? 'openid');
    await grant.save();
    return grant;
  },
  ttl: {
    AuthorizationCode: 600,
    AccessToken: 3600,
    IdToken: 3600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
  renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
});
// Warnings about development-only defaults would only be noise in test output.
provider.on('server_error', (_ctx, error) => console.error('server_error', error));

const callback = provider.callback();

async function interaction(req, res, uid) {
  const url = new URL(req.url, issuer);
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    res.writeHead(400).end('interaction mismatch');
    return;
  }
  const accountId = url.searchParams.get('account') || details.params.login_hint || 'alice';
  await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
}

const server = createServer((req, res) => {
  const match = /^\/interaction\/([^/?]+)/u.exec(req.url ?? '');
  if (match && req.method === 'GET') {
    interaction(req, res, match[1]).catch((error) => {
      console.error('interaction failed', error);
      if (!res.headersSent) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`interaction failed: ${error.message}`);
      }
    });
    return;
  }
  callback(req, res);
});

server.listen(port, args.host, () => {
  console.log(`listening ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
