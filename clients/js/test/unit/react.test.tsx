import { act, create, type ReactTestRenderer } from "react-test-renderer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createAuthClient } from "../../src/index.js";
import { AuthProvider, useAuth, useSession, type UseAuthResult, type UseSessionResult } from "../../src/react.js";
import { CookieJar } from "../cookie-jar.js";
import { startDemo, uniqueEmail, type DemoServer } from "../server.js";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

let server: DemoServer;
beforeAll(async () => {
  server = await startDemo();
});
afterAll(async () => {
  await server?.stop();
});

function Probe({ into }: { into: { auth?: UseAuthResult; session?: UseSessionResult } }) {
  const auth = useAuth();
  const session = useSession();
  into.auth = auth;
  into.session = session;
  return <p>{auth.status === "authenticated" ? `hello ${auth.user?.email}` : auth.status}</p>;
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await act(() => new Promise((r) => setTimeout(r, 10)));
  }
}

describe("@authgate/client/react", () => {
  it("AuthProvider checks the session; useAuth signs up, checks and logs out; useSession follows", async () => {
    const jar = new CookieJar();
    const client = createAuthClient({ baseURL: server.url, fetch: jar.fetch });
    const seen: { auth?: UseAuthResult; session?: UseSessionResult } = {};
    let renderer!: ReactTestRenderer;
    await act(async () => {
      renderer = create(
        <AuthProvider client={client}>
          <Probe into={seen} />
        </AuthProvider>,
      );
    });
    await until(() => seen.auth?.status === "unauthenticated", "the first session check");
    expect(renderer.toJSON()).toMatchObject({ type: "p", children: ["unauthenticated"] });
    expect(seen.session).toMatchObject({ data: null, status: "unauthenticated" });

    const email = uniqueEmail("react");
    await act(async () => {
      const { error } = await seen.auth!.signUp.email({ email, password: "correct horse battery", name: "Grace" });
      expect(error).toBeNull();
    });
    expect(renderer.toJSON()).toMatchObject({ children: [`hello ${email}`] });
    expect(seen.auth).toMatchObject({ status: "authenticated", loading: false, user: { email, name: "Grace" } });
    expect(seen.session!.data!.user.email).toBe(email);

    let checked: Awaited<ReturnType<UseAuthResult["checkSession"]>> = null;
    await act(async () => {
      checked = await seen.auth!.checkSession();
    });
    expect(checked!.user.email).toBe(email);

    await act(async () => {
      await seen.auth!.logout();
    });
    expect(seen.auth).toMatchObject({ status: "unauthenticated", user: null, session: null });
    expect(seen.session!.data).toBeNull();
    expect(jar.names()).toEqual([]);
    act(() => renderer.unmount());
  });

  it("useAuth outside an AuthProvider says so", () => {
    const original = console.error;
    console.error = () => {};
    try {
      expect(() => act(() => void create(<Probe into={{}} />))).toThrow(/inside <AuthProvider>/);
    } finally {
      console.error = original;
    }
  });
});
