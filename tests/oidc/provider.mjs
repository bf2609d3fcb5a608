// A real OpenID Connect provider for the sign-in tests: npm `oidc-provider` (a certified
// implementation) on a free loopback port, with one confidential client and accounts whose
// `groups` claim the tests change while it runs.
//
//   node provider.mjs            reads one JSON line of options on stdin:
//     {"client_id", "client_secret", "redirect_uris": [...], "accounts": {ID: {...}}}
//   and prints one JSON line {"issuer": "http://127.0.0.1:PORT"} once it listens.
//
// Test-only control routes (never part of a real provider):
//   POST /_test/accounts/ID   {"password", "email", "name", "groups": [...]} upserts an account
//   POST /_test/id-token      {"mode": "normal" | "wrong-audience" | "expired"} makes the
//                             token endpoint hand out ID tokens that the portal must refuse.
// The login page is a plain form (no scripts, nothing fetched from outside loopback).
import { createServer } from "node:http";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { SignJWT, decodeJwt, exportJWK, generateKeyPair } from "jose";
import Provider from "oidc-provider";

const options = JSON.parse(
  await new Promise((resolve) => createInterface({ input: process.stdin }).once("line", resolve)),
);
const accounts = new Map(Object.entries(options.accounts || {}));
let idTokenMode = "normal";

const { privateKey } = await generateKeyPair("RS256", { extractable: true });
const kid = "test-key-1";
const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: "RS256", use: "sig" };

const server = createServer();
server.listen(0, "127.0.0.1");
await once(server, "listening");
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: options.client_id,
      client_secret: options.client_secret,
      redirect_uris: options.redirect_uris,
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_post",
      require_auth_time: true,
    },
  ],
  jwks: { keys: [privateJwk] },
  scopes: ["openid", "profile", "email", "groups"],
  claims: {
    openid: ["sub"],
    profile: ["name", "preferred_username"],
    email: ["email", "email_verified"],
    groups: ["groups"],
  },
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ["zektor-test-provider-cookie-key"] },
  findAccount: async (ctx, id) => {
    const account = accounts.get(id);
    if (!account) return undefined;
    return {
      accountId: id,
      claims: async () => ({
        sub: id,
        name: account.name || id,
        preferred_username: id,
        email: account.email || `${id}@example.test`,
        email_verified: true,
        groups: account.groups || [],
      }),
    };
  },
  renderError: async (ctx, out) => {
    ctx.type = "html";
    ctx.body = `<!doctype html><title>Provider error</title><h1>${escape(out.error)}</h1>`
      + `<p>${escape(out.error_description || "")}</p>`;
  },
});

// Misbehaving-provider modes: re-sign the ID token the token endpoint hands out.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path !== "/token" || idTokenMode === "normal" || !ctx.body?.id_token) return;
  const claims = decodeJwt(ctx.body.id_token);
  if (idTokenMode === "wrong-audience") claims.aud = "some-other-client";
  if (idTokenMode === "expired") {
    claims.iat -= 7200;
    claims.exp = claims.iat + 60;
  }
  ctx.body = {
    ...ctx.body,
    id_token: await new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid }).sign(privateKey),
  };
});

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

function loginPage(uid, message) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test IdP sign-in</title></head>
<body><main><h1>Test IdP</h1>${message ? `<p role="alert">${escape(message)}</p>` : ""}
<form method="post" action="/interaction/${uid}/login">
<label for="login">IdP username</label><input id="login" name="login" autocomplete="off" required>
<label for="password">IdP password</label><input id="password" name="password" type="password" required>
<button type="submit">Continue to the portal</button></form></main></body></html>`;
}

async function finishConsent(req, res, details) {
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  const missing = details.prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(" "));
    }
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error("interaction mismatch");
  if (details.prompt.name === "consent") return finishConsent(req, res, details);
  if (req.method === "GET") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    return res.end(loginPage(uid));
  }
  if (action !== "login") throw new Error("unknown interaction action");
  const form = new URLSearchParams(await readBody(req));
  const account = accounts.get(form.get("login"));
  if (!account || account.password !== form.get("password")) {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    return res.end(loginPage(uid, "Wrong IdP username or password."));
  }
  const result = { login: { accountId: form.get("login") } };
  return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

async function control(req, res, path) {
  const body = JSON.parse((await readBody(req)) || "{}");
  const account = path.match(/^\/_test\/accounts\/([^/]+)$/);
  if (account) accounts.set(decodeURIComponent(account[1]), body);
  else if (path === "/_test/id-token") idTokenMode = body.mode;
  else return false;
  res.writeHead(204);
  res.end();
  return true;
}

const providerCallback = provider.callback();
server.on("request", async (req, res) => {
  const path = new URL(req.url, issuer).pathname;
  try {
    const match = path.match(/^\/interaction\/([^/]+)(?:\/(login))?$/);
    if (match) return await interaction(req, res, match[1], match[2]);
    if (req.method === "POST" && path.startsWith("/_test/") && (await control(req, res, path))) return;
    return providerCallback(req, res);
  } catch (error) {
    res.writeHead(400, { "content-type": "text/plain" });
    res.end(String(error));
  }
});

process.stdout.write(`${JSON.stringify({ issuer })}\n`);
