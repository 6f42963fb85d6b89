// Debian's Chromium for the end-to-end tests: one place for its path, flags and the artifact folder.
// A test tool's own browser download fails on this network, so the system package is required.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";

import { repoRoot } from "./server.js";

const CHROMIUM = process.env.AUTHGATE_CHROMIUM ?? "/usr/bin/chromium";
// Without the background-networking flags Chromium keeps dialling out, and this machine refuses.
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Where screenshots go (created on first use). */
export const ARTIFACTS = process.env.AUTHGATE_ARTIFACTS ?? join(repoRoot, "test-artifacts", "js-e2e");

/** Start headless Chromium; fails (never skips) when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it with 'apt-get install -y chromium' (scripts/test.sh does)`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
}
