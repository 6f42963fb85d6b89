// The real client against the README's FastAPI and Litestar integrations: their errors carry `kind`
// at the top level, so an expired access token on a protected route is refreshed and retried.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createAuthClient } from "../../src/index.js";
import { CookieJar } from "../cookie-jar.js";
import { sleep, startDemo, uniqueEmail, type DemoServer } from "../server.js";

for (const framework of ["fastapi", "litestar"] as const) {
  describe(`${framework} integration`, () => {
    let server: DemoServer;

    beforeAll(async () => {
      server = await startDemo({ framework, accessTtl: 2 });
    });

    afterAll(async () => {
      await server?.stop();
    });

    it("an expired access token on a protected route is refreshed and the call retried", async () => {
      const jar = new CookieJar();
      const client = createAuthClient({ baseURL: server.url, fetch: jar.fetch });
      const email = uniqueEmail(framework);
      const { data, error } = await client.signUp.email({ email, password: "correct horse battery" });
      expect(error).toBeNull();
      jar.honourMaxAge = false; // keep presenting the expired cookie so the server says SessionExpired
      await sleep(Date.parse(data!.session.expires_at) - Date.now() + 100);
      const response = await client.authFetch("/api/me");
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ email });
      const statuses = jar.requests.slice(-3).map((r) => `${r.method} ${r.path} ${r.status}`);
      expect(statuses).toEqual(["GET /api/me 401", "POST /api/auth/refresh 200", "GET /api/me 200"]);
    });

    it("a visitor's protected call is a 401 with kind Unauthenticated at the top level", async () => {
      const response = await fetch(`${server.url}/api/me`, { headers: { "X-Authgate-Client": "true" } });
      expect(response.status).toBe(401);
      expect((await response.json()).kind).toBe("Unauthenticated");
    });
  });
}
