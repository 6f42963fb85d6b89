// Start a real `authgate demo` process for a test file: free port, temporary SQLite file, a fixed
// secret, and short lifetimes when asked. Nothing is mocked: the client talks to the real routes.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

export interface DemoServer {
  url: string;
  logs: () => string;
  stop: () => Promise<void>;
}

export interface DemoOptions {
  accessTtl?: number;
  refreshTtl?: number;
  /** The demo's rate limits (in memory). Off by default: a test file signs up many users from one IP. */
  rateLimits?: boolean;
  /** Extra environment for the demo process (e.g. GITHUB_CLIENT_ID to list a provider). */
  env?: Record<string, string>;
  /** Listen on this port (when something else, e.g. an OAuth provider, must know it first). */
  port?: number;
  /** More `authgate demo` arguments, e.g. ["--authjs", "4"]. */
  args?: string[];
  /** Serve test/framework_apps.py's FastAPI or Litestar app with uvicorn instead of `authgate demo`. */
  framework?: "fastapi" | "litestar";
}

function pythonCommand(): string {
  const venv = join(repoRoot, ".venv", "bin", "python");
  return existsSync(venv) ? venv : "python3";
}

function authgateCommand(): string {
  if (process.env.AUTHGATE_BIN) return process.env.AUTHGATE_BIN;
  const venv = join(repoRoot, ".venv", "bin", "authgate");
  return existsSync(venv) ? venv : "authgate";
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) done();
    else child.once("exit", () => done());
  });
}

export async function startDemo(options: DemoOptions = {}): Promise<DemoServer> {
  const dir = mkdtempSync(join(tmpdir(), "authgate-js-"));
  const port = options.port ?? (await freePort());
  const args = ["demo", "--host", "127.0.0.1", "--port", String(port), "--database-url", `sqlite:///${join(dir, "demo.db")}`];
  if (options.accessTtl) args.push("--access-ttl", String(options.accessTtl));
  if (options.refreshTtl) args.push("--refresh-ttl", String(options.refreshTtl));
  args.push("--rate-limits", options.rateLimits ? "on" : "off");
  if (options.args) args.push(...options.args);
  const env: NodeJS.ProcessEnv = { ...process.env, AUTHGATE_SECRET: "js-client-tests-secret-0123456789abcdefghijklmnop" };
  // Providers come from the environment: only the ones a test asks for.
  for (const name of Object.keys(env)) if (/^(GITHUB|GOOGLE|OIDC)_/.test(name)) delete env[name];
  const testDir = dirname(fileURLToPath(import.meta.url));
  const [command, commandArgs] = options.framework
    ? [
        pythonCommand(),
        ["-m", "uvicorn", "--app-dir", testDir, `framework_apps:${options.framework}_app`, "--port", String(port)],
      ]
    : [authgateCommand(), args];
  if (options.framework) {
    env.AUTHGATE_TEST_DB = `sqlite:///${join(dir, "app.db")}`;
    if (options.accessTtl) env.AUTHGATE_ACCESS_TTL = String(options.accessTtl);
  }
  const child = spawn(command, commandArgs, {
    env: { ...env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  let spawnError: Error | null = null;
  child.once("error", (error) => (spawnError = error));

  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited(child);
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (spawnError || child.exitCode !== null) {
      await stop();
      throw new Error(`authgate demo did not start (${spawnError ?? `exit ${child.exitCode}`}):\n${output}`);
    }
    try {
      const response = await fetch(`${url}/api/auth/session`);
      await response.body?.cancel();
      break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`authgate demo did not answer GET /api/auth/session within 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, logs: () => output, stop };
}

let counter = 0;
/** A unique, valid email for each call, so tests never collide in one database. */
export function uniqueEmail(label = "user"): string {
  counter += 1;
  return `${label}-${process.pid}-${Date.now()}-${counter}@example.com`;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
