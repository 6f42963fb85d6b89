import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createAuthClient, isMfaChallenge, type AuthClient, type AuthEvent, type Session } from "../../src/index.js";
import { CookieJar } from "../cookie-jar.js";
import { sleep, startDemo, uniqueEmail, type DemoServer } from "../server.js";

const PASSWORD = "correct horse battery";
let server: DemoServer;

beforeAll(async () => {
  // access tokens live 2 s, so expiry can be watched; the refresh grace window is the server's 10 s
  server = await startDemo({ accessTtl: 2 });
});

afterAll(async () => {
  await server?.stop();
});

function newClient(jar = new CookieJar(), baseURL = server.url): { client: AuthClient; jar: CookieJar; events: AuthEvent[] } {
  const client = createAuthClient({ baseURL, fetch: jar.fetch });
  const events: AuthEvent[] = [];
  client.onEvent((event) => events.push(event));
  return { client, jar, events };
}

async function signedUp(label = "user") {
  const made = newClient();
  const email = uniqueEmail(label);
  const { data, error } = await made.client.signUp.email({ email, password: PASSWORD, name: "Ada" });
  expect(error).toBeNull();
  return { ...made, email, session: data!.session };
}

/** Wait until the server considers this access token expired (the jar drops the cookie earlier). */
async function waitForExpiry(session: Session): Promise<void> {
  const wait = Date.parse(session.expires_at) - Date.now() + 100;
  if (wait > 0) await sleep(wait);
}

describe("requests", () => {
  it("send credentials include and the X-Authgate-Client header on every call", async () => {
    const { client, jar } = await signedUp();
    await client.getSession();
    await client.listSessions();
    await client.authFetch("/api/private");
    await client.signOut();
    expect(jar.requests.length).toBeGreaterThanOrEqual(5);
    for (const request of jar.requests) {
      expect(request.credentials, request.path).toBe("include");
      expect(request.headers.get("x-authgate-client"), request.path).toBe("true");
    }
  });

  it("accept a baseURL that already ends in the auth path", async () => {
    const jar = new CookieJar();
    const client = createAuthClient({ baseURL: `${server.url}/api/auth/`, fetch: jar.fetch });
    const { error } = await client.signUp.email({ email: uniqueEmail("path"), password: PASSWORD });
    expect(error).toBeNull();
    expect(jar.requests[0]!.url).toBe(`${server.url}/api/auth/sign-up`);
  });

  it("report an unreachable server as NetworkError with status 0", async () => {
    const client = createAuthClient({ baseURL: "http://127.0.0.1:9", fetch: new CookieJar().fetch });
    const { data, error } = await client.signIn.email({ email: "a@example.com", password: PASSWORD });
    expect(data).toBeNull();
    expect(error).toMatchObject({ kind: "NetworkError", status: 0 });
  });
});

describe("sign up and sign in", () => {
  it("sign up returns the user and session and sets both HttpOnly cookies", async () => {
    const { client, jar, email, events } = await signedUp();
    const state = client.getState();
    expect(state.status).toBe("authenticated");
    expect(state.user).toMatchObject({ email, name: "Ada", email_verified: false });
    expect(state.user).not.toHaveProperty("password_hash");
    expect(jar.get("authgate_session")).toMatchObject({ path: "/", httpOnly: true, sameSite: "Lax" });
    expect(jar.get("authgate_refresh")).toMatchObject({ path: "/api/auth/refresh", httpOnly: true, sameSite: "Strict" });
    expect(events.map((e) => e.type)).toEqual(["signed-in"]);
  });

  it("a taken email is EmailInUse with status 409", async () => {
    const { email } = await signedUp();
    const { client } = newClient();
    const { error } = await client.signUp.email({ email, password: PASSWORD });
    expect(error).toMatchObject({ kind: "EmailInUse", status: 409 });
    expect(error).toBeInstanceOf(Error);
  });

  it("a short password is InvalidRequest naming the field", async () => {
    const { client } = newClient();
    const { error } = await client.signUp.email({ email: uniqueEmail(), password: "short" });
    expect(error).toMatchObject({ kind: "InvalidRequest", status: 400 });
  });

  it("a wrong password is CredentialsSignin and leaves the client signed out", async () => {
    const { email } = await signedUp();
    const { client } = newClient();
    const { data, error } = await client.signIn.email({ email, password: "wrong password!" });
    expect(data).toBeNull();
    expect(error).toMatchObject({ kind: "CredentialsSignin", status: 401, message: "Invalid email or password" });
    expect(client.getState().status).toBe("loading");
  });

  it("sign in returns the session and a second client with the same cookies sees it", async () => {
    const { email } = await signedUp();
    const { client, jar } = newClient();
    const { data, error } = await client.signIn.email({ email, password: PASSWORD });
    expect(error).toBeNull();
    expect(isMfaChallenge(data)).toBe(false);
    const second = newClient(jar);
    const session = await second.client.getSession();
    expect(session.data?.user.email).toBe(email);
    expect(second.client.getState().status).toBe("authenticated");
  });
});

describe("step-up", () => {
  it("reauthenticate: a wrong password is CredentialsSignin, the right one answers the new auth time", async () => {
    const { client } = await signedUp("stepup");
    const wrong = await client.reauthenticate({ password: "not the password" });
    expect(wrong.error).toMatchObject({ kind: "CredentialsSignin", status: 401 });
    const right = await client.reauthenticate({ password: PASSWORD });
    expect(right.error).toBeNull();
    expect(right.data?.reauthenticated).toBe(true);
    expect(Date.parse(right.data!.auth_time)).toBeGreaterThan(Date.now() - 60_000);
  });
});

describe("getSession", () => {
  it("is data null, error null for a visitor, after one refresh attempt, then none", async () => {
    const { client, jar } = newClient();
    const first = await client.getSession();
    expect(first).toEqual({ data: null, error: null });
    expect(client.getState().status).toBe("unauthenticated");
    expect(jar.count("POST", "/api/auth/refresh")).toBe(1); // no hint storage in Node: it may have had a session
    await client.getSession();
    expect(jar.count("POST", "/api/auth/refresh")).toBe(1);
  });

  it("concurrent calls share one request", async () => {
    const { client, jar } = await signedUp();
    const before = jar.count("GET", "/api/auth/session");
    const results = await Promise.all([client.getSession(), client.getSession(), client.getSession()]);
    expect(results.every((r) => r.data?.session.id === results[0]!.data!.session.id)).toBe(true);
    expect(jar.count("GET", "/api/auth/session") - before).toBe(1);
  });
});

describe("refresh", () => {
  it("SessionExpired: one refresh and one retry, transparently", async () => {
    const { client, jar, session, events } = await signedUp();
    jar.honourMaxAge = false; // keep presenting the expired cookie so the server says SessionExpired
    await waitForExpiry(session);
    const response = await client.authFetch("/api/private");
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/^hello /);
    const statuses = jar.requests.slice(-3).map((r) => `${r.method} ${r.path} ${r.status}`);
    expect(statuses).toEqual(["GET /api/private 401", "POST /api/auth/refresh 200", "GET /api/private 200"]);
    expect(events.filter((e) => e.type === "refreshed")).toHaveLength(1);
    expect(client.getState().session!.expires_at).not.toBe(session.expires_at);
  });

  it("Unauthenticated after the browser dropped the expired cookie also refreshes while signed in", async () => {
    const { client, jar, session } = await signedUp();
    await waitForExpiry(session);
    expect(jar.get("authgate_session")).toBeUndefined();
    const response = await client.authFetch("/api/private");
    expect(response.status).toBe(200);
    expect(jar.count("POST", "/api/auth/refresh")).toBe(1);
  });

  it("concurrent 401s in one tab share a single refresh", async () => {
    const { client, jar, session, events } = await signedUp();
    await waitForExpiry(session);
    const responses = await Promise.all(Array.from({ length: 5 }, () => client.authFetch("/api/private")));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(jar.count("POST", "/api/auth/refresh")).toBe(1);
    expect(jar.count("GET", "/api/private")).toBe(10);
    expect(events.filter((e) => e.type === "refreshed")).toHaveLength(1);
  });

  it("a retried POST sends its body again", async () => {
    const { client, jar, session } = await signedUp();
    await waitForExpiry(session);
    const response = await client.authFetch("/api/private", { method: "POST", body: "payload", headers: { "content-type": "text/plain" } });
    expect(response.status).toBe(200);
    const posts = jar.requests.filter((r) => r.method === "POST" && r.path === "/api/private");
    expect(posts.map((r) => r.body)).toEqual(["payload", "payload"]);
  });

  it("a Request object can be retried too", async () => {
    const { client, jar, session } = await signedUp();
    await waitForExpiry(session);
    const response = await client.authFetch(new Request(`${server.url}/api/private`, { method: "POST", body: "x" }));
    expect(response.status).toBe(200);
    expect(jar.count("POST", "/api/private")).toBe(2);
  });

  it("two clients without a shared lock racing on one refresh cookie both stay signed in (grace window)", async () => {
    const first = await signedUp();
    const second = newClient(first.jar);
    await second.client.getSession();
    await waitForExpiry(first.session);
    const [a, b] = await Promise.all([first.client.authFetch("/api/private"), second.client.authFetch("/api/private")]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(first.client.getState().status).toBe("authenticated");
    expect(second.client.getState().status).toBe("authenticated");
  });

  it("a failed refresh signs the user out cleanly", async () => {
    const { client, jar, session, events } = await signedUp();
    jar.set("authgate_refresh", "not-a-real-refresh-token-aaaaaaaaaaaaaaaaaaaaaa", "/api/auth/refresh");
    await waitForExpiry(session);
    const response = await client.authFetch("/api/private");
    expect(response.status).toBe(401);
    expect(client.getState()).toMatchObject({ status: "unauthenticated", user: null, session: null });
    expect(events.map((e) => e.type)).toContain("refresh-failed");
    expect(events.at(-1)).toEqual({ type: "signed-out", reason: "refresh-failed" });
    expect(jar.names()).toEqual([]); // the server cleared both cookies
  });

  it("refresh() rotates the tokens on demand", async () => {
    const { client, jar } = await signedUp();
    const before = jar.get("authgate_refresh")!.value;
    const { data, error } = await client.refresh();
    expect(error).toBeNull();
    expect(data!.user.email).toBe(client.getState().user!.email);
    expect(jar.get("authgate_refresh")!.value).not.toBe(before);
  });

  it("a visitor's protected call is a plain 401 with no refresh", async () => {
    const { client, jar } = newClient();
    await client.getSession();
    const response = await client.authFetch("/api/private");
    expect(response.status).toBe(401);
    expect(jar.count("POST", "/api/auth/refresh")).toBe(1); // only the first-load attempt
  });
});

describe("sign out and sessions", () => {
  it("signOut ends the session on the server and clears the cookies", async () => {
    const { client, jar, events } = await signedUp();
    const token = jar.get("authgate_session")!.value;
    const { data, error } = await client.signOut();
    expect(error).toBeNull();
    expect(data).toEqual({ success: true });
    expect(client.getState().status).toBe("unauthenticated");
    expect(jar.names()).toEqual([]);
    expect(events.at(-1)).toEqual({ type: "signed-out", reason: "sign-out" });
    const replay = new CookieJar();
    replay.set("authgate_session", token, "/");
    const response = await replay.fetch(`${server.url}/api/auth/session`);
    expect(response.status).toBe(401);
  });

  it("signOut after the access token expired still ends the server session", async () => {
    const { client, jar, email, session } = await signedUp();
    const other = newClient();
    await other.client.signIn.email({ email, password: PASSWORD });
    await waitForExpiry(session);
    const before = jar.requests.length;
    await client.signOut();
    // one request: /refresh/sign-out carries the refresh cookie, so no refresh is needed first
    expect(jar.requests.slice(before).map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual(["POST /api/auth/refresh/sign-out 200"]);
    const { data } = await other.client.listSessions();
    expect(data).toHaveLength(1);
    expect(data![0]!.current).toBe(true);
  });

  it("listSessions, revokeSession and revokeOtherSessions", async () => {
    const { client, email } = await signedUp();
    const laptop = newClient();
    const phone = newClient();
    await laptop.client.signIn.email({ email, password: PASSWORD });
    await phone.client.signIn.email({ email, password: PASSWORD });
    const listed = await client.listSessions();
    expect(listed.error).toBeNull();
    expect(listed.data).toHaveLength(3);
    expect(listed.data!.filter((s) => s.current)).toHaveLength(1);
    expect(Object.keys(listed.data![0]!).sort()).toEqual(["created_at", "current", "id", "ip", "last_used_at", "user_agent"]);

    const laptopId = laptop.client.getState().session!.id;
    expect((await client.revokeSession(laptopId)).data).toEqual({ revoked: 1 });
    expect((await laptop.client.getSession()).data).toBeNull();
    expect(laptop.client.getState().status).toBe("unauthenticated");

    expect((await client.revokeOtherSessions()).data).toEqual({ revoked: 1 });
    expect((await phone.client.getSession()).data).toBeNull();
    expect((await client.listSessions()).data).toHaveLength(1);
  });

  it("listSessions while signed out is an Unauthenticated error", async () => {
    const { client } = newClient();
    const { error } = await client.listSessions();
    expect(error).toMatchObject({ kind: "Unauthenticated", status: 401 });
  });
});

describe("mfa.verify", () => {
  it("posts the challenge, code and trust_device to /mfa/verify", async () => {
    const { client, jar } = newClient();
    const { data, error } = await client.mfa.verify({ challenge: "c".repeat(43), code: "123456", trustDevice: true });
    expect(data).toBeNull();
    expect(error).not.toBeNull(); // no such challenge (or, until the route exists, NotFound)
    const request = jar.requests.at(-1)!;
    expect(`${request.method} ${request.path}`).toBe("POST /api/auth/mfa/verify");
    expect(JSON.parse(request.body!)).toEqual({ challenge: "c".repeat(43), code: "123456", trust_device: true });
  });
});

describe("crossTab (BroadcastChannel, as two tabs sharing one cookie jar)", () => {
  it("sign-in, refresh and sign-out in one client are seen by the other", async () => {
    const jar = new CookieJar();
    const one = createAuthClient({ baseURL: server.url, fetch: jar.fetch, crossTab: true });
    const two = createAuthClient({ baseURL: server.url, fetch: jar.fetch, crossTab: true });
    const seen: AuthEvent[] = [];
    two.onEvent((event) => seen.push(event));
    try {
      await two.getSession();
      expect(two.getState().status).toBe("unauthenticated");
      seen.length = 0;
      const email = uniqueEmail("tabs");
      await one.signUp.email({ email, password: PASSWORD });
      await expect.poll(() => two.getState().user?.email).toBe(email);

      const { data } = await one.refresh();
      await expect.poll(() => two.getState().session?.expires_at).toBe(data!.session.expires_at);

      await one.signOut();
      await expect.poll(() => two.getState().status).toBe("unauthenticated");
      // sign-in, refresh, sign-out (which needs no refresh first: /refresh/sign-out gets the refresh cookie)
      expect(seen.map((e) => (e.type === "session-updated" ? e.reason : e.type))).toEqual(["signed-in", "refreshed", "signed-out"]);
      expect(seen.at(-1)).toEqual({ type: "signed-out", reason: "other-tab" });
    } finally {
      one.destroy();
      two.destroy();
    }
  });

  it("clients in one Node process do not talk to each other unless asked", async () => {
    const { client } = await signedUp();
    const { client: other } = newClient();
    await client.signOut();
    await sleep(50);
    expect(other.getState().status).toBe("loading");
  });
});

describe("magic links", () => {
  it("magicLink answers the same for any address; the emailed link's token signs in with confirmMagicLink", async () => {
    const { client, email } = await signedUp("magic");
    await client.signOut();
    const unknown = await client.signIn.magicLink({ email: uniqueEmail("nobody") });
    const known = await client.signIn.magicLink({ email, callbackUrl: `${server.url}/` });
    expect(unknown).toEqual({ data: { success: true }, error: null });
    expect(known).toEqual(unknown);
    // `authgate demo` prints emails; the link goes out in the background, after the answer.
    let link: string | undefined;
    for (let i = 0; i < 50 && !link; i++) {
      link = server.logs().match(new RegExp(`https?://\\S+/callback/email\\?token=[^\\s&]+&email=${encodeURIComponent(email)}`))?.[0];
      if (!link) await sleep(100);
    }
    expect(link).toBeTruthy();
    const params = new URL(link!).searchParams;
    const page = await fetch(`${server.url}/api/auth/callback/email?${params}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('action="/api/auth/callback/email"');
    const signedIn = await client.signIn.confirmMagicLink({ token: params.get("token")!, email });
    expect(signedIn.error).toBeNull();
    expect(isMfaChallenge(signedIn.data!)).toBe(false);
    expect((await client.getSession()).data?.user.email).toBe(email);
    const again = await client.signIn.confirmMagicLink({ token: params.get("token")!, email });
    expect(again.error?.kind).toBe("Verification");
  });
});
