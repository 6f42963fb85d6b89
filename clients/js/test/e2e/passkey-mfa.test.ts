// Passkeys, TOTP and the account pages of the demo in Debian's Chromium, against a real
// `authgate demo` (the server verifies WebAuthn with py_webauthn and TOTP with pyotp).
//
// The page is opened at http://localhost:<port>: a secure context where WebAuthn works, with
// `localhost` as the relying party id (an IP address cannot be one). A CDP virtual authenticator
// stands in for the platform authenticator; TOTP codes are computed here (RFC 6238, node:crypto).
// A screenshot of each step goes to test-artifacts/js-e2e/.
import { createHmac } from "node:crypto";
import { join } from "node:path";
import { type Browser, type BrowserContext, type CDPSession, type Page, type Response } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ARTIFACTS, launchChromium } from "../browser.js";
import { startDemo, uniqueEmail, type DemoServer } from "../server.js";

const PASSWORD = "correct horse battery";
const NEW_PASSWORD = "staple battery horse correct";

// -- RFC 6238 TOTP (SHA-1, 30 s steps, 6 digits), as an authenticator app computes it -----------

function base32Decode(text: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const char of text.replace(/=+$/, "").toUpperCase()) {
    const index = alphabet.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function hotp(secret: string, counter: number): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac("sha1", base32Decode(secret)).update(message).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(binary).padStart(6, "0");
}

const currentStep = () => Math.floor(Date.now() / 1000 / 30);

// RFC 6238 appendix B vector (SHA-1, secret "12345678901234567890", T = 59 s -> 94287082, 8 digits;
// the 6-digit code is its last six digits).
const RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

// -- shared state ------------------------------------------------------------------------------

let server: DemoServer;
let origin: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let cdp: CDPSession;
let authenticatorId: string;
const email = uniqueEmail("passkey");
const traffic: { method: string; path: string; status: number }[] = [];
let totpSecret = "";
let confirmedStep = 0;
let recoveryCodes: string[] = [];

async function shot(target: Page, name: string): Promise<void> {
  await target.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

const status = (target: Page) => target.locator("#status").textContent();
const message = (target: Page) => target.locator("#message-text").textContent();
const errorKind = (target: Page) => target.locator("#error-kind").textContent();

function since(mark: number): string[] {
  return traffic.slice(mark).map((t) => `${t.method} ${t.path} ${t.status}`);
}

async function open(target: Page, path = "/"): Promise<void> {
  await target.goto(`${origin}${path}`);
  await target.waitForSelector("body[data-ready=true]");
}

async function freshPage(): Promise<{ context: BrowserContext; page: Page }> {
  const other = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const opened = await other.newPage();
  opened.on("pageerror", (error) => console.error("[fresh page] page error:", error));
  await open(opened);
  return { context: other, page: opened };
}

async function signInWithPassword(target: Page, address: string, password: string): Promise<void> {
  await target.fill("#signin-email", address);
  await target.fill("#signin-password", password);
  await target.click("#signin-submit");
}

/** The newest email the demo printed to `address` (ConsoleSender writes them to stderr). */
async function emailTo(address: string, subject: RegExp): Promise<string> {
  let found = "";
  await expect
    .poll(() => {
      const blocks = server.logs().split(`--- email to ${address} ---`).slice(1);
      found = blocks.reverse().find((block) => subject.test(block.split("\n")[1] ?? "")) ?? "";
      return found;
    })
    .not.toBe("");
  return found;
}

function linkIn(mail: string): string {
  const match = /https?:\/\/\S+/.exec(mail);
  if (!match) throw new Error(`no link in email:\n${mail}`);
  return match[0];
}

beforeAll(async () => {
  // A GitHub app with made-up credentials: enough to list the provider and start its redirect.
  server = await startDemo({ env: { GITHUB_CLIENT_ID: "e2e-github-client", GITHUB_CLIENT_SECRET: "e2e-github-secret" } });
  origin = server.url.replace("127.0.0.1", "localhost");
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  page = await context.newPage();
  page.on("response", (response: Response) => {
    const request = response.request();
    const url = new URL(request.url());
    if (url.origin === origin) traffic.push({ method: request.method(), path: url.pathname, status: response.status() });
  });
  page.on("pageerror", (error) => console.error("page error:", error));
  cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const added = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  authenticatorId = added.authenticatorId;
}, 60_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await server?.stop();
});

describe("TOTP helper", () => {
  it("matches RFC 6238's SHA-1 test vector", () => {
    expect(hotp(RFC_SECRET, 1)).toBe("287082"); // T = 59 s
    expect(hotp(RFC_SECRET, Math.floor(1111111109 / 30))).toBe("081804");
  });
});

describe("passkeys in Chromium with a virtual authenticator", () => {
  it("1. signs up on the page, served from localhost (a secure context)", async () => {
    await open(page);
    expect(await page.evaluate(() => window.isSecureContext)).toBe(true);
    expect(await page.locator("#passkey-signin").isVisible()).toBe(true);
    await page.fill("#signup-email", email);
    await page.fill("#signup-password", PASSWORD);
    await page.fill("#signup-name", "Grace Hopper");
    await page.click("#signup-submit");
    await expect.poll(() => status(page)).toBe("authenticated");
    expect(await page.locator("#passkeys-panel").isVisible()).toBe(true);
    await expect.poll(() => page.locator("#passkeys-empty").isVisible()).toBe(true);
    await shot(page, "pk-01-signed-up");
  });

  it("2. registers a passkey: navigator.credentials.create, verified by the server", async () => {
    const mark = traffic.length;
    await page.fill("#passkey-name", "Virtual laptop");
    await page.click("#passkey-register");
    await expect.poll(() => page.locator("#passkeys-list li").count()).toBe(1);
    expect(await message(page)).toBe('Passkey "Virtual laptop" registered');
    expect(await page.locator("#passkeys-list li input.passkey-name").inputValue()).toBe("Virtual laptop");
    expect(since(mark)).toEqual(
      expect.arrayContaining(["POST /api/auth/passkey/register/options 200", "POST /api/auth/passkey/register/verify 200"]),
    );
    // the authenticator now holds one discoverable credential for rp "localhost"
    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    expect(credentials).toHaveLength(1);
    expect(credentials[0]).toMatchObject({ isResidentCredential: true, rpId: "localhost" });
    const listedId = await page.locator("#passkeys-list li").getAttribute("data-passkey-id");
    expect(Buffer.from(credentials[0]!.credentialId, "base64").toString("base64url")).toBe(listedId);
    await shot(page, "pk-02-passkey-registered");
  });

  it("3. registering the same authenticator twice is refused by the browser (excludeCredentials)", async () => {
    await page.click("#passkey-register");
    await expect.poll(() => errorKind(page)).toMatch(/^Passkey(InUse|Cancelled)$/);
    expect(await page.locator("#passkeys-list li").count()).toBe(1);
  });

  it("4. renames the passkey", async () => {
    const row = page.locator("#passkeys-list li").first();
    await row.locator("input.passkey-name").fill("Work laptop");
    await row.locator("button.rename").click();
    await expect.poll(() => message(page)).toBe("Passkey renamed to Work laptop");
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    await expect.poll(() => page.locator("#passkeys-list li input.passkey-name").inputValue()).toBe("Work laptop");
  });

  it("5. signs out, then signs in with the passkey (navigator.credentials.get, no email typed)", async () => {
    await page.click("#signout");
    await expect.poll(() => status(page)).toBe("unauthenticated");
    expect((await context.cookies()).map((c) => c.name)).not.toContain("authgate_session");
    await shot(page, "pk-03-signed-out");
    const mark = traffic.length;
    await page.click("#passkey-signin");
    await expect.poll(() => status(page)).toBe("authenticated");
    expect(await page.locator("#user-email").textContent()).toBe(email);
    expect(await message(page)).toBe(`Signed in with a passkey as ${email}`);
    expect(since(mark).slice(0, 2)).toEqual(["POST /api/auth/signin/passkey 200", "POST /api/auth/callback/passkey 200"]);
    const session = JSON.parse((await page.locator("#session-json").textContent())!);
    expect(session.user).toMatchObject({ email, name: "Grace Hopper" });
    // the server session is real: a protected call works
    await page.click("#call-private");
    await expect.poll(() => page.locator("#private-result").textContent()).toBe(`hello ${email}`);
    // and the passkey now shows when it was last used
    await expect.poll(async () => (await page.locator("#passkeys-list li input").getAttribute("title")) ?? "").toMatch(/last used/);
    await shot(page, "pk-04-signed-in-with-passkey");
  });
});

describe("TOTP on the demo page", () => {
  it("6. enrolment shows a QR code and the secret", async () => {
    expect(await page.locator("#totp-state").textContent()).toBe("off");
    await page.click("#totp-enroll");
    await expect.poll(() => page.locator("#totp-qr").isVisible()).toBe(true);
    const src = (await page.locator("#totp-qr").getAttribute("src"))!;
    expect(src.startsWith("data:image/svg+xml")).toBe(true);
    // the SVG really decoded into an image
    await expect.poll(() => page.locator("#totp-qr").evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBeGreaterThan(0);
    totpSecret = (await page.locator("#totp-secret").textContent())!.trim();
    expect(totpSecret).toMatch(/^[A-Z2-7]{16,}$/);
    expect(await page.locator("#totp-state").textContent()).toBe("pending");
    await shot(page, "mfa-01-totp-qr");
    await page.locator("#totp-qr").screenshot({ path: join(ARTIFACTS, "mfa-01-totp-qr-code.png") });
  });

  it("7. a wrong code does not turn it on; the right one does and shows 10 recovery codes once", async () => {
    const step = currentStep();
    const wrong = hotp(totpSecret, step + 5);
    await page.fill("#totp-code", wrong);
    await page.click("#totp-confirm");
    await expect.poll(() => errorKind(page)).toBe("Verification");
    confirmedStep = currentStep();
    await page.fill("#totp-code", hotp(totpSecret, confirmedStep));
    await page.click("#totp-confirm");
    await expect.poll(() => page.locator("#recovery-codes-list li").count()).toBe(10);
    recoveryCodes = await page.locator("#recovery-codes-list li").allTextContents();
    expect(new Set(recoveryCodes).size).toBe(10);
    expect(await page.locator("#totp-setup").isVisible()).toBe(false);
    await expect.poll(() => page.locator("#totp-state").textContent()).toBe("on · 10 recovery codes left");
    await shot(page, "mfa-02-recovery-codes");
    await page.click("#recovery-codes-done");
    expect(await page.locator("#recovery-codes-list li").count()).toBe(0);
  });

  it("8. signing in with the password now asks for a code; a wrong code is refused", async () => {
    await page.click("#signout");
    await expect.poll(() => status(page)).toBe("unauthenticated");
    await signInWithPassword(page, email, PASSWORD);
    await expect.poll(() => page.locator("#mfa-panel").isVisible()).toBe(true);
    expect(await status(page)).toBe("unauthenticated");
    expect(await page.locator("#mfa-panel").getAttribute("data-methods")).toBe("totp recovery_code");
    expect((await context.cookies()).map((c) => c.name)).not.toContain("authgate_session");
    await shot(page, "mfa-03-code-form");
    await page.fill("#mfa-code", "000000" === hotp(totpSecret, currentStep()) ? "111111" : "000000");
    await page.click("#mfa-submit");
    await expect.poll(() => errorKind(page)).toBe("Verification");
    expect(await status(page)).toBe("unauthenticated");
  });

  it("9. the authenticator's code signs in (and trusts this device)", async () => {
    // The confirmation used step `confirmedStep`; the server refuses a step twice, and accepts
    // one step of drift, so the next step's code is valid now without waiting 30 s.
    expect(currentStep() - confirmedStep).toBeLessThanOrEqual(1);
    await page.fill("#mfa-code", hotp(totpSecret, confirmedStep + 1));
    await page.check("#mfa-trust");
    await page.click("#mfa-submit");
    await expect.poll(() => status(page)).toBe("authenticated");
    expect(await page.locator("#user-email").textContent()).toBe(email);
    expect(await page.locator("#mfa-panel").isVisible()).toBe(false);
    const trusted = (await context.cookies()).find((c) => c.name === "authgate_trusted_device");
    expect(trusted).toMatchObject({ httpOnly: true, path: "/api/auth" });
    await shot(page, "mfa-04-signed-in-with-code");
  });

  it("10. on the trusted device the next password sign-in needs no code", async () => {
    await page.click("#signout");
    await expect.poll(() => status(page)).toBe("unauthenticated");
    await signInWithPassword(page, email, PASSWORD);
    await expect.poll(() => status(page)).toBe("authenticated");
    expect(await page.locator("#mfa-panel").isVisible()).toBe(false);
  });

  it("11. another browser needs the second factor; a recovery code works once", async () => {
    const other = await freshPage();
    try {
      await signInWithPassword(other.page, email, PASSWORD);
      await expect.poll(() => other.page.locator("#mfa-panel").isVisible()).toBe(true);
      await other.page.fill("#mfa-code", recoveryCodes[0]!);
      await other.page.click("#mfa-submit");
      await expect.poll(() => status(other.page)).toBe("authenticated");
      await expect.poll(() => other.page.locator("#totp-state").textContent()).toBe("on · 9 recovery codes left");
      await other.page.click("#signout");
      await expect.poll(() => status(other.page)).toBe("unauthenticated");
      await signInWithPassword(other.page, email, PASSWORD);
      await expect.poll(() => other.page.locator("#mfa-panel").isVisible()).toBe(true);
      await other.page.fill("#mfa-code", recoveryCodes[0]!);
      await other.page.click("#mfa-submit");
      await expect.poll(() => errorKind(other.page)).toBe("Verification");
      await shot(other.page, "mfa-05-recovery-code-used-twice");
    } finally {
      await other.context.close();
    }
  });

  it("12. a deleted passkey can no longer sign in", async () => {
    await page.locator("#passkeys-list li button.delete").click();
    await expect.poll(() => page.locator("#passkeys-list li").count()).toBe(0);
    await page.click("#signout");
    await expect.poll(() => status(page)).toBe("unauthenticated");
    await page.click("#passkey-signin"); // the authenticator still offers its credential
    await expect.poll(() => errorKind(page)).toBe("Verification");
    expect(await status(page)).toBe("unauthenticated");
    await shot(page, "pk-05-deleted-passkey-refused");
  });
});

describe("providers, email verification and password reset", () => {
  it("13. lists the configured provider and starts its OAuth redirect with PKCE", async () => {
    const other = await freshPage();
    try {
      const button = other.page.locator("#provider-github");
      expect(await button.textContent()).toBe("Sign in with GitHub");
      expect(await other.page.locator("#providers-list button").count()).toBe(1); // credentials is not a button
      await shot(other.page, "acct-01-provider-button");
      // GitHub is not contacted: the browser's navigation to it is answered here.
      let authorize: URL | null = null;
      await other.context.route("https://github.com/**", async (route) => {
        authorize = new URL(route.request().url());
        await route.fulfill({ status: 200, contentType: "text/html", body: "<h1>GitHub (stub)</h1>" });
      });
      await button.click();
      await expect.poll(() => authorize?.pathname).toBe("/login/oauth/authorize");
      const query = authorize!.searchParams;
      expect(query.get("client_id")).toBe("e2e-github-client");
      expect(query.get("redirect_uri")).toBe(`${origin}/api/auth/callback/github`);
      expect(query.get("code_challenge_method")).toBe("S256");
      expect(query.get("state")).toBeTruthy();
    } finally {
      await other.context.close();
    }
  });

  it("14. verify-email: the button emails a link that marks the address verified", async () => {
    const other = await freshPage();
    const address = uniqueEmail("verify");
    try {
      await other.page.fill("#signup-email", address);
      await other.page.fill("#signup-password", PASSWORD);
      await other.page.click("#signup-submit");
      await expect.poll(() => status(other.page)).toBe("authenticated");
      expect(await other.page.locator("#email-verified").textContent()).toBe("not verified");
      await other.page.click("#verify-email-send");
      await expect.poll(() => message(other.page)).toMatch(/^Verification email sent/);
      const link = linkIn(await emailTo(address, /Verify your email/));
      expect(link.startsWith(`${origin}/api/auth/verify-email?token=`)).toBe(true);
      await other.page.goto(link);
      await other.page.waitForSelector("body[data-ready=true]");
      expect(new URL(other.page.url()).pathname).toBe("/");
      expect(await message(other.page)).toBe("Email address verified");
      expect(await other.page.locator("#email-verified").textContent()).toBe("verified");
      await shot(other.page, "acct-02-email-verified");
    } finally {
      await other.context.close();
    }
  });

  it("15. forgot password -> emailed link -> reset form on the demo page -> sign in with the new password", async () => {
    const other = await freshPage();
    const address = uniqueEmail("reset");
    try {
      await other.page.fill("#signup-email", address);
      await other.page.fill("#signup-password", PASSWORD);
      await other.page.click("#signup-submit");
      await expect.poll(() => status(other.page)).toBe("authenticated");
      await other.page.click("#signout");
      await expect.poll(() => status(other.page)).toBe("unauthenticated");
      await other.page.fill("#forgot-email", address);
      await other.page.click("#forgot-submit");
      await expect.poll(() => message(other.page)).toMatch(/^If that address has an account/);
      const link = linkIn(await emailTo(address, /reset/i));
      expect(link.startsWith(`${origin}/?token=`)).toBe(true);
      await other.page.goto(link);
      await other.page.waitForSelector("body[data-ready=true]");
      expect(await other.page.locator("#reset-panel").isVisible()).toBe(true);
      await shot(other.page, "acct-03-reset-form");
      await other.page.fill("#reset-password", NEW_PASSWORD);
      await other.page.click("#reset-submit");
      await expect.poll(() => message(other.page)).toBe("Password changed: sign in with the new one");
      expect(new URL(other.page.url()).search).toBe("");
      await signInWithPassword(other.page, address, PASSWORD);
      await expect.poll(() => errorKind(other.page)).toBe("CredentialsSignin");
      await signInWithPassword(other.page, address, NEW_PASSWORD);
      await expect.poll(() => status(other.page)).toBe("authenticated");
      // the link is single-use
      await other.page.goto(link);
      await other.page.waitForSelector("body[data-ready=true]");
      await other.page.fill("#reset-password", "yet another password");
      await other.page.click("#reset-submit");
      await expect.poll(() => errorKind(other.page)).toBe("Verification");
      await shot(other.page, "acct-04-reset-link-used-twice");
    } finally {
      await other.context.close();
    }
  });
});
