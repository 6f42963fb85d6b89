// The demo page in Debian's Chromium, against a real `authgate demo` with 3 s access tokens.
// One journey, step by step, with a screenshot of each step in test-artifacts/js-e2e/.
import { join } from "node:path";
import { type Browser, type BrowserContext, type Page, type Response } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ARTIFACTS, launchChromium } from "../browser.js";
import { startDemo, uniqueEmail, type DemoServer } from "../server.js";

const PASSWORD = "correct horse battery";
const ACCESS_TTL = 3;

let server: DemoServer;
let browser: Browser;
let context: BrowserContext;
let tab1: Page;
let tab2: Page;
const email = uniqueEmail("browser");
/** Every request the browser made to the server, in order. */
const traffic: { method: string; path: string; status: number; page: string }[] = [];

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

function since(mark: number, method: string, path: string) {
  return traffic.slice(mark).filter((t) => t.method === method && t.path === path);
}

async function status(page: Page): Promise<string | null> {
  return page.locator("#status").textContent();
}

async function openTab(name: string): Promise<Page> {
  const page = await context.newPage();
  page.on("response", (response: Response) => {
    const request = response.request();
    traffic.push({ method: request.method(), path: new URL(request.url()).pathname, status: response.status(), page: name });
  });
  page.on("pageerror", (error) => console.error(`[${name}] page error:`, error));
  await page.goto(server.url);
  await page.waitForSelector("body[data-ready=true]");
  return page;
}

/** Wait until the server-side access token has expired and the browser has dropped its cookie. */
async function waitForAccessExpiry(page: Page): Promise<void> {
  const expiresAt = await page.evaluate(() => (window as any).authgate.getState().session?.expires_at as string);
  expect(expiresAt).toBeTruthy();
  const wait = Date.parse(expiresAt) - Date.now() + 150;
  if (wait > 0) await page.waitForTimeout(wait);
  const names = (await context.cookies()).map((c) => c.name);
  expect(names).not.toContain("authgate_session");
  expect(names).toContain("authgate_refresh");
}

beforeAll(async () => {
  server = await startDemo({ accessTtl: ACCESS_TTL });
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
}, 60_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await server?.stop();
});

describe("demo page in Chromium", () => {
  it("1. starts signed out and shows the forms", async () => {
    tab1 = await openTab("tab1");
    expect(await status(tab1)).toBe("unauthenticated");
    await expect.poll(() => tab1.locator("#signup-form").isVisible()).toBe(true);
    expect(await tab1.locator("#signed-in").isVisible()).toBe(false);
    await shot(tab1, "01-signed-out");
  });

  it("2. signs up on the page", async () => {
    await tab1.fill("#signup-email", email);
    await tab1.fill("#signup-password", PASSWORD);
    await tab1.fill("#signup-name", "Ada Lovelace");
    await tab1.click("#signup-submit");
    await expect.poll(() => status(tab1)).toBe("authenticated");
    expect(await tab1.locator("#user-email").textContent()).toBe(email);
    expect(JSON.parse((await tab1.locator("#session-json").textContent())!).user).toMatchObject({ email, name: "Ada Lovelace" });
    await expect.poll(() => tab1.locator("#sessions-list li").count()).toBe(1);
    await shot(tab1, "02-signed-up");
  });

  it("3. the session cookies are HttpOnly: document.cookie cannot read them", async () => {
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "authgate_session");
    const refresh = cookies.find((c) => c.name === "authgate_refresh");
    expect(session).toMatchObject({ httpOnly: true, path: "/", sameSite: "Lax" });
    expect(refresh).toMatchObject({ httpOnly: true, path: "/api/auth/refresh", sameSite: "Strict" });
    const visible = await tab1.evaluate(() => document.cookie);
    expect(visible).not.toContain("authgate");
    expect(visible).not.toContain(session!.value);
    await tab1.evaluate((text) => {
      document.querySelector("#message-text")!.textContent = text;
    }, `document.cookie = ${JSON.stringify(visible)}`);
    await shot(tab1, "03-cookie-not-readable");
  });

  it("4. a wrong password shows the error kind", async () => {
    // a second browser profile, so tab1 stays signed in
    const other = await browser.newContext();
    const page = await other.newPage();
    await page.goto(server.url);
    await page.waitForSelector("body[data-ready=true]");
    await page.fill("#signin-email", email);
    await page.fill("#signin-password", "not the password");
    await page.click("#signin-submit");
    await expect.poll(() => page.locator("#error-kind").textContent()).toBe("CredentialsSignin");
    expect(await page.locator("#message-text").textContent()).toBe("Invalid email or password");
    await page.fill("#signup-email", email);
    await page.fill("#signup-password", PASSWORD);
    await page.click("#signup-submit");
    await expect.poll(() => page.locator("#error-kind").textContent()).toBe("EmailInUse");
    await page.screenshot({ path: join(ARTIFACTS, "04-error-kind.png"), fullPage: true });
    await other.close();
  });

  it("5. reload stays signed in, also after the access cookie expired", async () => {
    await tab1.reload();
    await tab1.waitForSelector("body[data-ready=true]");
    expect(await status(tab1)).toBe("authenticated");
    await waitForAccessExpiry(tab1);
    const mark = traffic.length;
    await tab1.reload();
    await tab1.waitForSelector("body[data-ready=true]");
    expect(await status(tab1)).toBe("authenticated");
    expect(await tab1.locator("#user-email").textContent()).toBe(email);
    expect(since(mark, "POST", "/api/auth/refresh").map((t) => t.status)).toEqual([200]);
    await shot(tab1, "05-reloaded-after-expiry");
  });

  it("6. after the access token expires, a protected call succeeds through one transparent refresh", async () => {
    await waitForAccessExpiry(tab1);
    const mark = traffic.length;
    await tab1.click("#call-private");
    await expect.poll(() => tab1.locator("#private-result").textContent()).toBe(`hello ${email}`);
    const calls = () => traffic.slice(mark).filter((t) => t.path === "/api/private" || t.path === "/api/auth/refresh");
    await expect.poll(() => calls().map((t) => `${t.method} ${t.path} ${t.status}`)).toEqual([
      "GET /api/private 401",
      "POST /api/auth/refresh 200",
      "GET /api/private 200",
    ]);
    expect(await status(tab1)).toBe("authenticated");
    await shot(tab1, "06-refreshed-protected-call");
  });

  it("7. two tabs refreshing at the same moment share one refresh and both stay signed in", async () => {
    tab2 = await openTab("tab2");
    expect(await status(tab2)).toBe("authenticated");
    await waitForAccessExpiry(tab1);
    // Hold the refresh until both tabs have had their 401, so they really do refresh at once.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await context.route("**/api/auth/refresh", async (route) => {
      await gate;
      await route.continue();
    });
    const mark = traffic.length;
    await Promise.all([tab1, tab2].map((tab) => tab.evaluate(() => document.getElementById("call-private")!.click())));
    await expect.poll(() => since(mark, "GET", "/api/private").filter((t) => t.status === 401).map((t) => t.page).sort()).toEqual([
      "tab1",
      "tab2",
    ]);
    release();
    for (const tab of [tab1, tab2]) {
      await expect.poll(() => tab.locator("#private-result").textContent()).toBe(`hello ${email}`);
    }
    await context.unroute("**/api/auth/refresh");
    expect(since(mark, "POST", "/api/auth/refresh").map((t) => t.status)).toEqual([200]);
    expect(since(mark, "GET", "/api/private").filter((t) => t.status === 200)).toHaveLength(2);
    expect(await status(tab1)).toBe("authenticated");
    expect(await status(tab2)).toBe("authenticated");
    // one tab rotated the tokens; the other waited on the lock and reused them (its log may also show
    // the other tab's broadcast, before or after, so look at its recent entries, not only the newest)
    const logs = await Promise.all(
      [tab1, tab2].map(async (tab) => (await tab.locator("#log li").allTextContents()).slice(0, 3).map((line) => line.replace(/^.*?  /, ""))),
    );
    // (the waiting tab either got the lock after the rotation and reused the tokens, or heard the
    // other tab's broadcast first; either way it sent no refresh of its own, as checked above)
    const rotated = logs.filter((entries) => entries.includes("refreshed tokens rotated"));
    const reused = logs.filter(
      (entries) =>
        !entries.includes("refreshed tokens rotated") &&
        (entries.includes("refresh-shared with other-tab") || entries.includes("session-updated (refreshed in another tab)")),
    );
    expect([rotated.length, reused.length]).toEqual([1, 1]);
    await shot(tab1, "07-two-tabs-tab1");
    await shot(tab2, "07-two-tabs-tab2");
    // and the session survived: no reuse revocation happened
    await tab2.click("#check-session");
    await expect.poll(() => tab2.locator("#message-text").textContent()).toMatch(/^Session is valid until/);
  });

  it("8. signing out in one tab is noticed by the other", async () => {
    await tab2.bringToFront();
    await tab1.click("#signout");
    await expect.poll(() => status(tab1)).toBe("unauthenticated");
    await expect.poll(() => status(tab2)).toBe("unauthenticated");
    expect(await tab2.locator("#message-text").textContent()).toBe("Signed out (other tab)");
    expect(await tab2.locator("#signin-form").isVisible()).toBe(true);
    expect((await context.cookies()).map((c) => c.name)).toEqual([]);
    await shot(tab1, "08-signed-out-tab1");
    await shot(tab2, "08-signed-out-tab2");
    // the other tab really is signed out on the server too
    const response = await tab2.evaluate(async () => (await (window as any).authgate.authFetch("/api/private")).status);
    expect(response).toBe(401);
  });
});
