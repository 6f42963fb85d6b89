// The unmodified Auth.js browser client (next-auth/react 4.24 and 5.0 beta, pinned in
// test/authjs/package-lock.json) against a real `authgate demo --authjs N` in Debian's Chromium,
// with a real OpenID Connect provider (oidc-provider, tests/oidc/server.mjs) on loopback.
//
// The client is bundled with esbuild as published; the only stubs are the `process.env` values
// Next.js would inline at build time (NEXTAUTH_URL, whose path becomes the client's basePath).
// The page lives on authgate's own origin (Playwright answers /app/* from memory), as an Auth.js
// app's pages live beside its /api/auth routes.
import { spawn, type ChildProcess } from "node:child_process";
import { createHmac } from "node:crypto";
import { join } from "node:path";
import { build } from "esbuild";
import { type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { launchChromium } from "../browser.js";
import { freePort, repoRoot, startDemo, uniqueEmail, type DemoServer } from "../server.js";

const AUTHJS_DIR = join(repoRoot, "clients", "js", "test", "authjs");
const OIDC_DIR = join(repoRoot, "tests", "oidc");
const PASSWORD = "correct horse battery";

// -- helpers -------------------------------------------------------------------------------------

async function bundle(version: 4 | 5): Promise<string> {
  const result = await build({
    stdin: {
      contents: `import * as client from "next-auth-v${version}/react"; window.authjs = client;`,
      resolveDir: AUTHJS_DIR,
      loader: "js",
    },
    bundle: true,
    write: false,
    format: "iife",
    platform: "browser",
    target: "es2020",
    logLevel: "silent",
    define: {
      "process.env.NEXTAUTH_URL": JSON.stringify("http://localhost/api/auth"),
      "process.env.NEXTAUTH_URL_INTERNAL": "undefined",
      "process.env.VERCEL_URL": "undefined",
      "process.env.NODE_ENV": JSON.stringify("production"),
    },
  });
  return result.outputFiles[0]!.text;
}

function hotp(secret: string, counter: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const key: number[] = [];
  for (const char of secret.replace(/=+$/, "").toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(char);
    bits += 5;
    if (bits >= 8) {
      key.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac("sha1", Buffer.from(key)).update(message).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

interface OIDCProcess {
  issuer: string;
  stop: () => Promise<void>;
}

async function startOIDC(redirectUri: string): Promise<OIDCProcess> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ["server.mjs", "--port", String(port), "--redirect-uri", redirectUri], {
    cwd: OIDC_DIR,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const issuer = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await new Promise((done) => child.once("exit", done));
    }
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`oidc-provider (tests/oidc/server.mjs) exited: ${output}`);
    try {
      const response = await fetch(`${issuer}/.well-known/openid-configuration`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`oidc-provider did not start within 30 s (run npm ci in tests/oidc): ${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { issuer, stop };
}

// -- one suite per client version -----------------------------------------------------------------

for (const version of [4, 5] as const) {
  describe(`next-auth/react v${version} against authgate`, () => {
    let server: DemoServer;
    let oidc: OIDCProcess;
    let browser: Browser;
    let context: BrowserContext;
    let page: Page;
    let pageUrl: string;
    const consoleErrors: string[] = [];
    const logPosts: number[] = [];
    const email = uniqueEmail(`authjs-v${version}`);

    const cookieNames = async () => (await context.cookies()).map((c) => c.name).sort();
    const call = <T>(script: string): Promise<T> => page.evaluate(script) as Promise<T>;

    beforeAll(async () => {
      const port = await freePort();
      oidc = await startOIDC(`http://127.0.0.1:${port}/api/auth/callback/oidc`);
      server = await startDemo({
        port,
        args: ["--authjs", String(version)],
        env: { OIDC_ISSUER: oidc.issuer, OIDC_CLIENT_ID: "authgate-test", OIDC_CLIENT_SECRET: "authgate-test-secret-0123456789abcdef" },
      });
      pageUrl = `${server.url}/app/v${version}`;
      const script = await bundle(version);
      browser = await launchChromium();
      context = await browser.newContext();
      await context.route(`${server.url}/app/**`, (route) => {
        const path = new URL(route.request().url()).pathname;
        if (path.endsWith(".js")) return route.fulfill({ contentType: "text/javascript", body: script });
        return route.fulfill({
          contentType: "text/html",
          body: `<!doctype html><title>Auth.js v${version}</title><script src="/app/client-v${version}.js"></script><p id="ready">ready</p>`,
        });
      });
      page = await context.newPage();
      page.on("console", (message) => {
        if (message.type() === "error") consoleErrors.push(message.text());
      });
      page.on("request", (request) => {
        if (new URL(request.url()).pathname === "/api/auth/_log") logPosts.push(Date.now());
      });
      await page.goto(pageUrl);
      await page.waitForFunction(() => (window as any).authjs?.signIn);
      // The user signs up through authgate's own JSON route (Auth.js has no sign-up).
      const response = await fetch(`${server.url}/api/auth/sign-up`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Authgate-Client": "true" },
        body: JSON.stringify({ email, password: PASSWORD }),
      });
      expect(response.status).toBe(200);
    });

    afterAll(async () => {
      await browser?.close();
      await server?.stop();
      await oidc?.stop();
    });

    it("getSession signed out: null, without an error report", async () => {
      const session = await call<unknown>("authjs.getSession()");
      expect(session).toBeNull();
      expect(consoleErrors.filter((e) => /CLIENT_FETCH_ERROR|ClientFetchError/.test(e))).toEqual([]);
      expect(logPosts).toEqual([]);
      expect(await cookieNames()).not.toContain("authgate_session");
    });

    it("getCsrfToken: a token matching the signed cookie it sets", async () => {
      const token = await call<string>("authjs.getCsrfToken()");
      expect(token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
      const cookie = (await context.cookies()).find((c) => c.name === "authgate_csrf");
      expect(cookie?.value.split("|")[0]).toBe(token);
      expect(cookie?.httpOnly).toBe(true);
    });

    it("getProviders: credentials, email and the OIDC provider", async () => {
      const providers = await call<Record<string, { id: string; type: string; signinUrl: string }>>("authjs.getProviders()");
      expect(Object.keys(providers).sort()).toEqual(["credentials", "email", "oidc"]);
      expect(providers.credentials!.type).toBe("credentials");
      expect(providers.email!.type).toBe("email");
      expect(providers.oidc!.type).toBe("oidc");
    });

    it("signIn('credentials') with a wrong password: CredentialsSignin, no session", async () => {
      const result = await call<{ error: string; ok: boolean; status: number; url: string | null }>(
        `authjs.signIn("credentials", {email: ${JSON.stringify(email)}, password: "wrong password!", redirect: false})`,
      );
      expect(result.error).toBe("CredentialsSignin");
      expect(result.url).toBeNull();
      // As each Auth.js server answers: v4 keeps the 401, v5 answers 200 with the error URL.
      expect(result.status).toBe(version === 4 ? 401 : 200);
      expect(await cookieNames()).not.toContain("authgate_session");
    });

    it("signIn('credentials', {redirect: false}): signed in, cookies set, getSession has the user", async () => {
      const result = await call<{ error: string | null; ok: boolean; status: number; url: string }>(
        `authjs.signIn("credentials", {email: ${JSON.stringify(email)}, password: ${JSON.stringify(PASSWORD)}, redirect: false})`,
      );
      expect(result.ok).toBe(true);
      expect(result.status).toBe(200);
      expect(result.error ?? null).toBeNull();
      expect(result.url).toBe(pageUrl);
      const names = await cookieNames();
      expect(names).toContain("authgate_session");
      expect(names).toContain("authgate_refresh");
      const session = await call<{ user: { email: string }; expires: string }>("authjs.getSession()");
      expect(session.user.email).toBe(email);
      expect(Date.parse(session.expires)).toBeGreaterThan(Date.now());
    });

    it("signOut({redirect: false}): {url} back, cookies cleared, getSession null", async () => {
      const result = await call<{ url: string }>(`authjs.signOut({redirect: false})`);
      expect(result.url).toBe(pageUrl);
      const names = await cookieNames();
      expect(names).not.toContain("authgate_session");
      expect(names).not.toContain("authgate_refresh");
      expect(await call("authjs.getSession()")).toBeNull();
    });

    it("signIn('credentials') with redirect: the page lands on callbackUrl, signed in", async () => {
      const target = `${pageUrl}?after=credentials`;
      await Promise.all([
        page.waitForURL(target),
        call(`authjs.signIn("credentials", {email: ${JSON.stringify(email)}, password: ${JSON.stringify(PASSWORD)}, callbackUrl: ${JSON.stringify(target)}})`).catch(() => undefined),
      ]);
      await page.waitForFunction(() => (window as any).authjs?.signIn);
      expect(await cookieNames()).toContain("authgate_session");
      const session = await call<{ user: { email: string } }>("authjs.getSession()");
      expect(session.user.email).toBe(email);
    });

    it("signOut() with redirect: the page lands on callbackUrl, signed out", async () => {
      const target = `${pageUrl}?after=signout`;
      await Promise.all([
        page.waitForURL(target),
        call(`authjs.signOut({callbackUrl: ${JSON.stringify(target)}})`).catch(() => undefined),
      ]);
      await page.waitForFunction(() => (window as any).authjs?.signIn);
      expect(await cookieNames()).not.toContain("authgate_session");
      expect(await call("authjs.getSession()")).toBeNull();
    });

    it("signIn('oidc'): through oidc-provider and back to callbackUrl, signed in", async () => {
      // Playwright cannot answer a request that ends a redirect chain from memory, so the landing
      // page is one authgate's demo serves; the test then returns to the Auth.js page.
      const target = `${server.url}/?after=oidc`;
      await Promise.all([
        page.waitForURL(target, { timeout: 30_000 }),
        call(`authjs.signIn("oidc", {callbackUrl: ${JSON.stringify(target)}})`).catch(() => undefined),
      ]);
      await page.goto(pageUrl);
      await page.waitForFunction(() => (window as any).authjs?.signIn);
      const names = await cookieNames();
      expect(names).toContain("authgate_session");
      const session = await call<{ user: { email: string } }>("authjs.getSession()");
      expect(session.user.email).toBe("alice@example.test");
      await call(`authjs.signOut({redirect: false})`);
      expect(await cookieNames()).not.toContain("authgate_session");
    });

    it("signIn('email'): the verify-request url, then the emailed link's page signs in", async () => {
      const target = `${server.url}/?after=email`;
      const result = await call<{ ok: boolean; error: string | null; url: string }>(
        `authjs.signIn("email", {email: ${JSON.stringify(email)}, callbackUrl: ${JSON.stringify(target)}, redirect: false})`,
      );
      expect(result.ok).toBe(true);
      expect(result.error ?? null).toBeNull();
      expect(result.url).toBe(`${server.url}/api/auth/verify-request?provider=email&type=email`);
      expect(await cookieNames()).not.toContain("authgate_session");
      // `authgate demo` prints its emails; the link goes out after the answer.
      let link: string | undefined;
      for (let i = 0; i < 50 && !link; i++) {
        link = server.logs().match(new RegExp(`https?://\\S+/callback/email\\?token=[^\\s&]+&email=${encodeURIComponent(email)}`))?.[0];
        if (!link) await new Promise((r) => setTimeout(r, 100));
      }
      expect(link).toBeTruthy();
      // The demo names itself localhost in links (WebAuthn needs a name); this page is on 127.0.0.1.
      const opened = new URL(link!);
      opened.host = new URL(server.url).host;
      await page.goto(opened.toString());
      expect(await cookieNames()).not.toContain("authgate_session"); // opening the link spends nothing
      await Promise.all([page.waitForURL(target), page.click("#confirm")]);
      expect(await cookieNames()).toContain("authgate_session");
      await page.goto(pageUrl);
      await page.waitForFunction(() => (window as any).authjs?.signIn);
      const session = await call<{ user: { email: string; email_verified: boolean } }>("authjs.getSession()");
      expect(session.user.email).toBe(email);
      expect(session.user.email_verified).toBe(true);
      await call(`authjs.signOut({redirect: false})`);
    });

    it("a user with TOTP gets the MFA challenge in the returned url's fragment, and answers it", async () => {
      // A user of its own: the sign-in link above recovered the shared one (an unverified address
      // proved by its mailbox loses the password set before), so it has no password any more.
      const totpEmail = uniqueEmail(`authjs-totp-v${version}`);
      const signedUp = await fetch(`${server.url}/api/auth/sign-up`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Authgate-Client": "true" },
        body: JSON.stringify({ email: totpEmail, password: PASSWORD }),
      });
      expect(signedUp.status).toBe(200);
      // Enrol TOTP while signed in (authgate's own JSON routes).
      await call(`authjs.signIn("credentials", {email: ${JSON.stringify(totpEmail)}, password: ${JSON.stringify(PASSWORD)}, redirect: false})`);
      const post = (path: string, body: object) =>
        page.evaluate(
          async ([p, b]) => {
            const r = await fetch(`/api/auth${p}`, {
              method: "POST",
              headers: { "Content-Type": "application/json", "X-Authgate-Client": "true" },
              body: JSON.stringify(b),
            });
            return { status: r.status, body: await r.json() };
          },
          [path, body] as const,
        );
      const enrolled = await post("/mfa/totp/enroll", {});
      expect(enrolled.status).toBe(200);
      const secret = enrolled.body.secret as string;
      const step = Math.floor(Date.now() / 30_000);
      expect((await post("/mfa/totp/confirm", { code: hotp(secret, step) })).status).toBe(200);
      await call(`authjs.signOut({redirect: false})`);

      const result = await call<{ ok: boolean; error: string | null; url: string }>(
        `authjs.signIn("credentials", {email: ${JSON.stringify(totpEmail)}, password: ${JSON.stringify(PASSWORD)}, redirect: false})`,
      );
      expect(result.ok).toBe(true);
      expect(result.error ?? null).toBeNull();
      const fragment = new URLSearchParams(new URL(result.url).hash.slice(1));
      expect(fragment.get("methods")).toContain("totp");
      expect(await cookieNames()).not.toContain("authgate_session");
      expect(await call("authjs.getSession()")).toBeNull();
      // The next code (the enrolment used this step's) answers the challenge.
      let verified = await post("/mfa/verify", { challenge: fragment.get("mfa_challenge"), code: hotp(secret, step + 1) });
      if (verified.status !== 200) {
        verified = await post("/mfa/verify", { challenge: fragment.get("mfa_challenge"), code: hotp(secret, Math.floor(Date.now() / 30_000)) });
      }
      expect(verified.status).toBe(200);
      const session = await call<{ user: { email: string } }>("authjs.getSession()");
      expect(session.user.email).toBe(totpEmail);
    });
  });
}
