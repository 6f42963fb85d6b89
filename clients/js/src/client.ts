/**
 * `createAuthClient`: typed calls to authgate's routes, one shared refresh on a 401, and a small
 * observable state (status, user, session) that other tabs keep in step.
 *
 * Refresh, in one place: a request that comes back 401 `SessionExpired` (or `Unauthenticated`
 * while a session may exist: the browser drops the session cookie when it expires) waits for one
 * refresh and is retried once. All requests of a tab share that refresh; across tabs a Web Lock
 * lets one tab refresh while the others wait and then see, from the time stamp the winner left,
 * that the cookies are already new, so no tab ever presents a refresh token another has rotated.
 */

import { accountMethods, type AccountMethods, type MfaMethods, type PasskeyMethods } from "./account.js";
import { TabCoordinator, type TabMessage } from "./coordination.js";
import {
  AuthClientError,
  type AuthClientOptions,
  type AuthEvent,
  type AuthState,
  type FetchLike,
  type MfaChallenge,
  type Result,
  type SessionData,
  type SessionInfo,
  type User,
} from "./types.js";

const CLIENT_HEADER = "X-Authgate-Client";

export interface SignUpInput {
  email: string;
  password: string;
  name?: string;
}

export interface SignInInput {
  email: string;
  password: string;
}

/** The client `createAuthClient` returns. Every call sends cookies and the anti-CSRF header. */
export interface AuthClient extends AccountMethods {
  signUp: { email(input: SignUpInput): Promise<Result<SessionData>> };
  signIn: {
    /** `data` is the session, or an MFA challenge to finish with `mfa.verify` (see `isMfaChallenge`). */
    email(input: SignInInput): Promise<Result<SessionData | MfaChallenge>>;
    /** Sign in with a passkey (same as `passkey.signIn()`). */
    passkey(): Promise<Result<SessionData>>;
    /** Leave the page for an OAuth/OIDC provider (browser only); it comes back to `callbackUrl`. */
    provider(id: string, options?: { callbackUrl?: string }): void;
    /**
     * Email a single-use sign-in link (server: `MagicLinkOptions`). The answer is the same whether or
     * not the address has an account. The link opens a confirmation page on the server whose button
     * signs in and returns to `callbackUrl`.
     */
    magicLink(input: { email: string; callbackUrl?: string }): Promise<Result<{ success: true }>>;
    /** Spend a link's `token` and `email` from an app's own confirmation page; may answer an MFA challenge. */
    confirmMagicLink(input: { token: string; email: string }): Promise<Result<SessionData | MfaChallenge>>;
  };
  mfa: MfaMethods;
  passkey: PasskeyMethods;
  /** End the session on the server, clear the cookies, and tell the other tabs. */
  signOut(): Promise<Result<{ success: true }>>;
  /** The current session (refreshing once if needed), or `data: null` when signed out. */
  getSession(): Promise<Result<SessionData | null>>;
  /** Rotate the tokens now (shared with any refresh already running in this or another tab). */
  refresh(): Promise<Result<SessionData>>;
  listSessions(): Promise<Result<SessionInfo[]>>;
  revokeSession(id: string): Promise<Result<{ revoked: number }>>;
  revokeOtherSessions(): Promise<Result<{ revoked: number }>>;
  /**
   * `fetch` for the app's own protected routes: cookies, the anti-CSRF header, and one transparent
   * refresh + retry on a 401. A body that is a one-shot stream cannot be retried; pass strings,
   * FormData, Blobs or buffers.
   */
  authFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  getState(): AuthState;
  /** Called with the new state after each change. Returns the unsubscribe function. */
  subscribe(listener: (state: AuthState) => void): () => void;
  /** What the client did (signed in, refreshed, reused another tab's refresh, ...). */
  onEvent(listener: (event: AuthEvent) => void): () => void;
  /** Stop listening to other tabs. */
  destroy(): void;
}

/** True when a sign-in answer asks for a second factor instead of giving a session. */
export function isMfaChallenge(data: SessionData | MfaChallenge | null | undefined): data is MfaChallenge {
  return !!data && (data as MfaChallenge).mfa_required === true;
}

type RefreshOutcome = { ok: true; data: SessionData | null } | { ok: false; error: AuthClientError };

function resolveBases(options: AuthClientOptions): { authBase: string; origin: string | null } {
  const baseURL = (options.baseURL ?? "").replace(/\/+$/, "");
  let origin: string | null = null;
  let path = "";
  try {
    const url = new URL(baseURL);
    origin = url.origin;
    path = url.pathname.replace(/\/+$/, "");
  } catch {
    path = baseURL; // "" (this page's origin) or a relative path such as "/api/auth"
  }
  const basePath = options.basePath ?? (path ? "" : "/api/auth");
  return { authBase: `${origin ?? ""}${path}${basePath}`.replace(/\/+$/, ""), origin };
}

/** Tabs and workers of one browser share cookies; clients elsewhere (Node) each have their own. */
function inBrowser(): boolean {
  const scope = globalThis as { document?: unknown; WorkerGlobalScope?: unknown };
  return typeof scope.document !== "undefined" || typeof scope.WorkerGlobalScope !== "undefined";
}

function networkError(cause: unknown): AuthClientError {
  const message = cause instanceof Error ? cause.message : String(cause);
  return new AuthClientError(`Could not reach the server: ${message}`, "NetworkError", 0);
}

async function errorFrom(response: Response): Promise<AuthClientError> {
  try {
    const body = (await response.clone().json()) as { error?: unknown; kind?: unknown; field?: unknown };
    if (typeof body.kind === "string") {
      const message = typeof body.error === "string" ? body.error : body.kind;
      return new AuthClientError(message, body.kind, response.status, typeof body.field === "string" ? body.field : undefined);
    }
  } catch {
    // not JSON: fall through
  }
  return new AuthClientError(`Unexpected answer: HTTP ${response.status}`, "InvalidResponse", response.status);
}

async function kindOf(response: Response): Promise<string | undefined> {
  try {
    const body = (await response.clone().json()) as { kind?: unknown };
    return typeof body.kind === "string" ? body.kind : undefined;
  } catch {
    return undefined;
  }
}

function isSessionData(value: unknown): value is SessionData {
  const data = value as SessionData | null;
  return !!data && typeof data === "object" && !!data.user && !!data.session && typeof data.session.id === "string";
}

/** Create a client. In the browser `createAuthClient()` talks to this page's own `/api/auth`. */
export function createAuthClient(options: AuthClientOptions = {}): AuthClient {
  const { authBase, origin } = resolveBases(options);
  const baseFetch: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const refreshTimeoutMs = options.refreshTimeoutMs ?? 15_000;
  const tabs = new TabCoordinator(authBase, options.crossTab ?? inBrowser());

  let state: AuthState = { status: "loading", user: null, session: null, error: null };
  const stateListeners = new Set<(state: AuthState) => void>();
  const eventListeners = new Set<(event: AuthEvent) => void>();
  let refreshing: Promise<RefreshOutcome> | null = null;
  let checking: Promise<Result<SessionData | null>> | null = null;

  function emit(event: AuthEvent): void {
    for (const listener of eventListeners) listener(event);
  }

  function setState(next: AuthState): void {
    const same =
      next.status === state.status &&
      next.error === state.error &&
      JSON.stringify(next.user) === JSON.stringify(state.user) &&
      JSON.stringify(next.session) === JSON.stringify(state.session);
    if (same) return;
    state = next;
    for (const listener of stateListeners) listener(state);
  }

  function signedIn(data: SessionData): void {
    tabs.setSessionHint(true);
    setState({ status: "authenticated", user: data.user, session: data.session, error: null });
  }

  function signedOut(): void {
    tabs.setSessionHint(false);
    setState({ status: "unauthenticated", user: null, session: null, error: null });
  }

  function failed(error: AuthClientError): void {
    // A transient failure keeps a known session; it only settles a state still loading.
    setState({ ...state, status: state.status === "loading" ? "unauthenticated" : state.status, error });
  }

  tabs.subscribe((message: TabMessage) => {
    if (message.type === "signed-out") {
      if (state.status !== "unauthenticated") {
        setState({ status: "unauthenticated", user: null, session: null, error: null });
        emit({ type: "signed-out", reason: "other-tab" });
      }
    } else if (message.data && isSessionData(message.data)) {
      signedIn(message.data);
      emit({ type: "session-updated", source: "other-tab", reason: message.type });
    }
  });

  function authURL(path: string): string {
    return `${authBase}${path}`;
  }

  function resolve(input: RequestInfo | URL): RequestInfo | URL {
    if (typeof input === "string" && origin && !/^[a-z][a-z0-9+.-]*:/i.test(input)) {
      return new URL(input, origin).toString();
    }
    return input;
  }

  async function send(path: string, method: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { [CLIENT_HEADER]: "true", Accept: "application/json" };
    const init: RequestInit = { method, headers, credentials: "include" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (signal) init.signal = signal;
    return baseFetch(authURL(path), init);
  }

  /** Whether a 401 of this kind may be cured by a refresh. */
  function mayRefreshFor(kind: string | undefined): boolean {
    if (kind === "SessionExpired") return true;
    if (kind !== "Unauthenticated") return false;
    if (state.status === "authenticated") return true;
    // On first load the session cookie may have expired while the refresh cookie lives on.
    return state.status === "loading" && tabs.sessionHint() !== false;
  }

  async function refreshLocked(sentAt: number | null): Promise<RefreshOutcome> {
    // Another tab (or an earlier refresh here) rotated the cookies after our request left, so
    // they are already fresh: retry with them instead of rotating again. (Rotating again would
    // not be reuse, since the browser sends the newest cookie; the lock is what rules that out.)
    if (sentAt !== null && tabs.lastRefreshAt() > sentAt) {
      emit({ type: "refresh-shared", from: "other-tab" });
      return { ok: true, data: null };
    }
    let response: Response;
    try {
      const timeout = (AbortSignal as { timeout?: (ms: number) => AbortSignal }).timeout;
      response = await send("/refresh", "POST", undefined, timeout ? timeout(refreshTimeoutMs) : undefined);
    } catch (cause) {
      const error = networkError(cause);
      emit({ type: "refresh-failed", error });
      return { ok: false, error };
    }
    if (response.ok) {
      let data: SessionData | null = null;
      try {
        const body: unknown = await response.json();
        if (isSessionData(body)) data = body;
      } catch {
        // the cookies are what matter; GET /session will fill the state in
      }
      tabs.markRefreshed(Date.now());
      if (data) signedIn(data);
      tabs.post({ type: "refreshed", data });
      emit({ type: "refreshed", data });
      return { ok: true, data };
    }
    const error = await errorFrom(response);
    emit({ type: "refresh-failed", error });
    if (response.status === 401) {
      // The refresh token is gone, expired or was reused: the server has cleared the cookies.
      const wasSignedIn = state.status === "authenticated";
      signedOut();
      tabs.post({ type: "signed-out" });
      if (wasSignedIn) emit({ type: "signed-out", reason: "refresh-failed" });
    } else {
      failed(error);
    }
    return { ok: false, error };
  }

  /** One refresh per tab at a time; requests that fail meanwhile wait for it. */
  function sharedRefresh(sentAt: number | null): Promise<RefreshOutcome> {
    if (refreshing) {
      emit({ type: "refresh-shared", from: "this-tab" });
      return refreshing;
    }
    // A lock request can reject (the page is unloading): that is a failed refresh, not a crash.
    const run = tabs.withLock(() => refreshLocked(sentAt)).catch((cause: unknown): RefreshOutcome => {
      return { ok: false, error: networkError(cause) };
    });
    refreshing = run.finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  /** Send, and on a curable 401 refresh once and send again. Network errors throw, as fetch does. */
  async function withRefresh(doSend: () => Promise<Response>): Promise<Response> {
    if (refreshing) await refreshing; // don't send a cookie that is about to be replaced
    const sentAt = Date.now();
    const response = await doSend();
    if (response.status !== 401 || !mayRefreshFor(await kindOf(response))) return response;
    const outcome = await sharedRefresh(sentAt);
    return outcome.ok ? doSend() : response;
  }

  async function call<T>(doSend: () => Promise<Response>, parse: (body: unknown) => T | null): Promise<Result<T>> {
    let response: Response;
    try {
      response = await doSend();
    } catch (cause) {
      return { data: null, error: networkError(cause) };
    }
    if (!response.ok) return { data: null, error: await errorFrom(response) };
    let data: T | null = null;
    try {
      data = parse(await response.json());
    } catch {
      data = null;
    }
    if (data === null) {
      return { data: null, error: new AuthClientError("The server's answer was not understood", "InvalidResponse", response.status) };
    }
    return { data, error: null };
  }

  async function startSession(path: string, body: unknown): Promise<Result<SessionData | MfaChallenge>> {
    const result = await call(
      () => send(path, "POST", body),
      (value) => (isSessionData(value) || isMfaChallenge(value as MfaChallenge) ? (value as SessionData | MfaChallenge) : null),
    );
    if (result.data && isSessionData(result.data)) {
      tabs.markRefreshed(Date.now()); // new cookies: requests sent before now carried old ones
      signedIn(result.data);
      tabs.post({ type: "signed-in", data: result.data });
      emit({ type: "signed-in", data: result.data });
    }
    return result;
  }

  async function loadSession(): Promise<Result<SessionData | null>> {
    let response: Response;
    try {
      response = await withRefresh(() => send("/session", "GET"));
    } catch (cause) {
      const error = networkError(cause);
      failed(error);
      return { data: null, error };
    }
    if (response.status === 401) {
      const wasSignedIn = state.status === "authenticated";
      signedOut();
      if (wasSignedIn) {
        tabs.post({ type: "signed-out" });
        emit({ type: "signed-out", reason: "session-ended" });
      }
      return { data: null, error: null };
    }
    if (!response.ok) {
      const error = await errorFrom(response);
      failed(error);
      return { data: null, error };
    }
    try {
      const body: unknown = await response.json();
      if (isSessionData(body)) {
        signedIn(body);
        return { data: body, error: null };
      }
    } catch {
      // fall through
    }
    const error = new AuthClientError("The server's answer was not understood", "InvalidResponse", response.status);
    failed(error);
    return { data: null, error };
  }

  function endedOnServer(): void {
    const wasSignedIn = state.status === "authenticated";
    signedOut();
    tabs.post({ type: "signed-out" });
    if (wasSignedIn) emit({ type: "signed-out", reason: "session-ended" });
  }

  function userChanged(user: User): void {
    if (state.status === "authenticated" && state.user?.id === user.id && state.session) {
      signedIn({ user, session: state.session });
    }
  }

  const extras = accountMethods({ authURL, send, withRefresh, call, startSession, endedOnServer, userChanged });

  const client: AuthClient = {
    ...extras.account,
    signUp: {
      email: (input) => startSession("/sign-up", input) as Promise<Result<SessionData>>,
    },
    signIn: {
      email: (input) => startSession("/sign-in", { email: input.email, password: input.password }),
      passkey: () => extras.passkey.signIn(),
      provider(id, options) {
        const location = (globalThis as { location?: { assign(url: string): void } }).location;
        if (!location) throw new Error("signIn.provider navigates the page: use providerSignInURL outside a browser");
        location.assign(extras.account.providerSignInURL(id, options));
      },
      magicLink: (input) =>
        call(
          () => send("/signin/email", "POST", input.callbackUrl ? { email: input.email, callbackUrl: input.callbackUrl } : { email: input.email }),
          (b) => ((b as { success?: unknown }).success === true ? { success: true as const } : null),
        ),
      confirmMagicLink: (input) => startSession("/callback/email", { token: input.token, email: input.email }),
    },
    mfa: {
      ...extras.mfa,
      verify: (input) =>
        startSession("/mfa/verify", {
          challenge: input.challenge,
          code: input.code,
          ...(input.trustDevice === undefined ? {} : { trust_device: input.trustDevice }),
        }) as Promise<Result<SessionData>>,
    },
    passkey: extras.passkey,

    async signOut() {
      // /refresh/sign-out is /sign-out below the refresh cookie's path, so the browser sends both
      // cookies: the server can end the session even when the access cookie has already expired.
      if (refreshing) await refreshing; // let a running rotation land, so the newest token is sent
      let response: Response;
      try {
        response = await send("/refresh/sign-out", "POST");
      } catch (cause) {
        return { data: null, error: networkError(cause) };
      }
      if (!response.ok && response.status !== 401) return { data: null, error: await errorFrom(response) };
      const wasSignedIn = state.status !== "unauthenticated";
      signedOut();
      tabs.post({ type: "signed-out" });
      if (wasSignedIn) emit({ type: "signed-out", reason: "sign-out" });
      return { data: { success: true }, error: null };
    },

    getSession() {
      // Concurrent callers (React strict mode, several components) share one round trip.
      if (!checking) {
        checking = loadSession().finally(() => {
          checking = null;
        });
      }
      return checking;
    },

    async refresh() {
      const outcome = await sharedRefresh(null);
      if (!outcome.ok) return { data: null, error: outcome.error };
      if (outcome.data) return { data: outcome.data, error: null };
      const loaded = await client.getSession();
      if (loaded.error) return { data: null, error: loaded.error };
      if (!loaded.data) return { data: null, error: new AuthClientError("Not signed in", "Unauthenticated", 401) };
      return { data: loaded.data, error: null };
    },

    listSessions() {
      return call(
        () => withRefresh(() => send("/sessions", "GET")),
        (body) => {
          const sessions = (body as { sessions?: unknown }).sessions;
          return Array.isArray(sessions) ? (sessions as SessionInfo[]) : null;
        },
      );
    },

    revokeSession(id) {
      return call(
        () => withRefresh(() => send(`/sessions?id=${encodeURIComponent(id)}`, "DELETE")),
        (body) => (typeof (body as { revoked?: unknown }).revoked === "number" ? (body as { revoked: number }) : null),
      );
    },

    revokeOtherSessions() {
      return call(
        () => withRefresh(() => send("/sessions?all=others", "DELETE")),
        (body) => (typeof (body as { revoked?: unknown }).revoked === "number" ? (body as { revoked: number }) : null),
      );
    },

    authFetch(input, init) {
      const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
      headers.set(CLIENT_HEADER, "true");
      const target = resolve(input);
      const finalInit: RequestInit = { ...init, headers, credentials: "include" };
      // A Request's body can be read once: send clones so the retry still has it.
      const doSend =
        target instanceof Request ? () => baseFetch(new Request(target.clone(), finalInit)) : () => baseFetch(target, finalInit);
      return withRefresh(doSend);
    },

    getState: () => state,

    subscribe(listener) {
      stateListeners.add(listener);
      return () => stateListeners.delete(listener);
    },

    onEvent(listener) {
      eventListeners.add(listener);
      return () => eventListeners.delete(listener);
    },

    destroy() {
      tabs.close();
      stateListeners.clear();
      eventListeners.clear();
    },
  };
  return client;
}
