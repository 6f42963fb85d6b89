// Better Auth peer for authgate's scripts/bench (docs/benchmarks.md).
//
// One Node process (single-threaded, like one uvicorn worker): Better Auth's own node handler
// (`toNodeHandler`) on a plain `node:http` server, email/password enabled, Postgres through a
// `pg.Pool` (Better Auth's Kysely adapter), everything else as Better Auth's documentation sets it
// up. Two settings a load test from one address needs: the rate limiter is off, and so is
// telemetry (loopback only).
//
//   node server.mjs migrate   create Better Auth's tables (its own getMigrations) and exit
//   node server.mjs           serve /api/auth/* on 127.0.0.1:$BA_PORT
//
// Environment:
//   BA_DATABASE_URL   Postgres URL of Better Auth's own database (required)
//   BA_PORT           port (default 18109)
//   BA_SECRET         the signing secret (required; the driver signs seeded session cookies with it)
//   BA_COOKIE_CACHE   "1": session.cookieCache on (a signed session_data cookie); default off, so
//                     every get-session reads the database
//   BA_COOKIE_CACHE_MAX_AGE  the cookie cache's lifetime in seconds (Better Auth's default: 300)
//   BA_POOL_MAX       pg pool size (default 10, like authgate's pool)

import http from "node:http";
import { betterAuth } from "better-auth";
import { toNodeHandler } from "better-auth/node";
import pg from "pg";

const databaseUrl = process.env.BA_DATABASE_URL;
const secret = process.env.BA_SECRET;
if (!databaseUrl || !secret) {
    console.error("BA_DATABASE_URL and BA_SECRET are required");
    process.exit(2);
}
const port = Number(process.env.BA_PORT || 18109);
const cookieCache = process.env.BA_COOKIE_CACHE === "1";
const cookieCacheMaxAge = Number(process.env.BA_COOKIE_CACHE_MAX_AGE || 300);
const baseURL = `http://127.0.0.1:${port}`;

const pool = new pg.Pool({ connectionString: databaseUrl, max: Number(process.env.BA_POOL_MAX || 10) });

export const auth = betterAuth({
    baseURL,
    secret,
    database: pool,
    emailAndPassword: { enabled: true },
    session: {
        cookieCache: cookieCache ? { enabled: true, maxAge: cookieCacheMaxAge } : { enabled: false },
    },
    rateLimit: { enabled: false },
    telemetry: { enabled: false },
    trustedOrigins: [baseURL],
});

if (process.argv[2] === "migrate") {
    const { getMigrations } = await import("better-auth/db/migration");
    const { runMigrations, toBeCreated, toBeAdded } = await getMigrations(auth.options);
    await runMigrations();
    console.log(`migrated: created ${toBeCreated.map((t) => t.table).join(", ") || "nothing"}; ` +
        `added columns to ${toBeAdded.map((t) => t.table).join(", ") || "nothing"}`);
    await pool.end();
    process.exit(0);
}

const server = http.createServer(toNodeHandler(auth));
server.keepAliveTimeout = 65_000;
server.listen(port, "127.0.0.1", () => {
    console.log(`better-auth ${cookieCache ? "(cookie cache on)" : "(database)"} on ${baseURL}`);
});

const stop = () => {
    server.close();
    pool.end().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
