// The demo page's account features in Chromium, as the README lists them: change password, change
// email, email codes, recovery-code regeneration, delete account; errors sit under their field and
// are cleared by the next action.
import { createHmac } from "node:crypto";
import { join } from "node:path";
import { type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ARTIFACTS, launchChromium } from "../browser.js";
import { startDemo, uniqueEmail, type DemoServer } from "../server.js";

const PASSWORD = "correct horse battery";
const NEW_PASSWORD = "staple battery horse correct";

let server: DemoServer;
let origin: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const email = uniqueEmail("account");

function base32Decode(text: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const char of text.replace(/=+$/, "").toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(char);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function totp(secret: string, step: number): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32Decode(secret)).update(message).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

const currentStep = () => Math.floor(Date.now() / 1000 / 30);
const status = () => page.locator("#status").textContent();
const message = () => page.locator("#message-text").textContent();
const errorKind = () => page.locator("#error-kind").textContent();
const fieldError = (input: string) => page.locator(`#${input} + .field-error`).textContent();

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

beforeAll(async () => {
  server = await startDemo();
  origin = server.url.replace("127.0.0.1", "localhost");
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1100, height: 1400 } });
  page = await context.newPage();
  page.on("pageerror", (error) => console.error("page error:", error));
  await page.goto(origin);
  await page.waitForSelector("body[data-ready=true]");
}, 60_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await server?.stop();
});

describe("account features on the demo page", () => {
  it("1. a too-short password on sign-up is shown under the password field", async () => {
    await page.fill("#signup-email", email);
    await page.evaluate(() => document.getElementById("signup-password")!.removeAttribute("minlength"));
    await page.fill("#signup-password", "short");
    await page.click("#signup-submit");
    await expect.poll(() => fieldError("signup-password")).toMatch(/password/i);
    expect(await page.locator("#signup-password").getAttribute("aria-invalid")).toBe("true");
    expect(await errorKind()).toBe("InvalidRequest");
  });

  it("2. the next action clears the old error; signing up works", async () => {
    await page.fill("#signup-password", PASSWORD);
    await page.click("#signup-submit");
    await expect.poll(() => status()).toBe("authenticated");
    expect(await fieldError("signup-password")).toBe("");
    expect(await page.locator("#signup-password").getAttribute("aria-invalid")).toBeNull();
    expect(await errorKind()).toBe("");
  });

  it("3. change password: a short new one is refused under its field, then the change works", async () => {
    await page.fill("#password-current", PASSWORD);
    await page.fill("#password-new", "short");
    await page.click("#password-submit");
    await expect.poll(() => fieldError("password-new")).toMatch(/password/i);
    await page.fill("#password-current", PASSWORD);
    await page.fill("#password-new", NEW_PASSWORD);
    await page.click("#password-submit");
    await expect.poll(() => message()).toBe("Password changed; your other sessions were signed out");
    expect(await fieldError("password-new")).toBe("");
    await page.screenshot({ path: join(ARTIFACTS, "account-01-password-changed.png"), fullPage: true });
  });

  it("4. change email sends a confirmation link to the new address", async () => {
    const next = uniqueEmail("account-new");
    await page.fill("#email-new", next);
    await page.fill("#email-password", NEW_PASSWORD);
    await page.click("#email-submit");
    await expect.poll(() => message()).toMatch(/^Confirmation link sent to the new address/);
    expect(await emailTo(next, /./)).toMatch(/https?:\/\//);
  });

  it("5. email codes: verify the address, turn them on, sign in with an emailed code, turn them off", async () => {
    await page.click("#verify-email-send");
    await expect.poll(() => message()).toMatch(/^Verification email sent/);
    const link = /https?:\/\/\S+/.exec(await emailTo(email, /Verify your email/))![0];
    await page.goto(link);
    await page.waitForSelector("body[data-ready=true]");
    await expect.poll(() => page.locator("#email-verified").textContent()).toBe("verified");
    await page.click("#email-mfa-enable");
    await expect.poll(() => page.locator("#email-mfa-state").textContent()).toBe("on");
    await page.click("#signout");
    await expect.poll(() => status()).toBe("unauthenticated");
    await page.fill("#signin-email", email);
    await page.fill("#signin-password", NEW_PASSWORD);
    await page.click("#signin-submit");
    await expect.poll(() => page.locator("#mfa-panel").isVisible()).toBe(true);
    const code = /\b(\d{6})\b/.exec(await emailTo(email, /code/i))![1]!;
    await page.fill("#mfa-code", code);
    await page.click("#mfa-submit");
    await expect.poll(() => status()).toBe("authenticated");
    await expect.poll(() => page.locator("#email-mfa-disable-form").isVisible()).toBe(true);
    await page.fill("#email-mfa-password", NEW_PASSWORD);
    await page.click("#email-mfa-disable");
    await expect.poll(() => page.locator("#email-mfa-state").textContent()).toBe("off");
  });

  it("6. recovery codes: a wrong code is refused, a right one shows 10 new codes", async () => {
    await page.click("#totp-enroll");
    await expect.poll(() => page.locator("#totp-secret").textContent()).not.toBe("");
    const secret = (await page.locator("#totp-secret").textContent())!;
    const step = currentStep();
    await page.fill("#totp-code", totp(secret, step));
    await page.click("#totp-confirm");
    await expect.poll(() => page.locator("#recovery-codes-list li").count()).toBe(10);
    const first = await page.locator("#recovery-codes-list li").allTextContents();
    await page.click("#recovery-codes-done");
    await expect.poll(() => page.locator("#recovery-regenerate-form").isVisible()).toBe(true);
    await page.fill("#recovery-regenerate-code", totp(secret, step + 5));
    await page.click("#recovery-regenerate");
    await expect.poll(() => errorKind()).not.toBe("");
    await page.fill("#recovery-regenerate-code", totp(secret, step + 1)); // one step of drift is accepted
    await page.click("#recovery-regenerate");
    await expect.poll(() => message()).toBe("New recovery codes: the old ones no longer work");
    expect(await errorKind()).toBe("");
    const second = await page.locator("#recovery-codes-list li").allTextContents();
    expect(second).toHaveLength(10);
    expect(second.some((code) => first.includes(code))).toBe(false);
    await page.screenshot({ path: join(ARTIFACTS, "account-02-new-recovery-codes.png"), fullPage: true });
  });

  it("7. delete account: the account is gone and its password no longer signs in", async () => {
    await page.fill("#delete-password", NEW_PASSWORD);
    await page.click("#delete-submit");
    await expect.poll(() => message()).toBe("Account deleted");
    await expect.poll(() => status()).toBe("unauthenticated");
    await page.fill("#signin-email", email);
    await page.fill("#signin-password", NEW_PASSWORD);
    await page.click("#signin-submit");
    await expect.poll(() => errorKind()).toBe("CredentialsSignin");
  });
});
