/**
 * React bindings: `<AuthProvider>` checks the session once on mount and shares the client;
 * `useAuth()` mirrors @authingo/react (`user`, `session`, `status`, `checkSession`, `logout`);
 * `useSession()` is the Auth.js-shaped view (`data`, `status`, `update`).
 */

import { createContext, useCallback, useContext, useEffect, useMemo, useState, useSyncExternalStore, type ReactNode } from "react";

import { createAuthClient, type AuthClient, type SignInInput, type SignUpInput } from "./client.js";
import type { AuthClientError, AuthStatus, MfaChallenge, Result, Session, SessionData, User } from "./types.js";

const AuthContext = createContext<AuthClient | null>(null);

export interface AuthProviderProps {
  /** A client made with `createAuthClient` (recommended: one per app, at module level). */
  client?: AuthClient;
  /** Used only without `client`: where the server is (default: this page's origin). */
  baseURL?: string;
  /** Skip the session check on mount (e.g. the page already knows nobody is signed in). */
  checkOnMount?: boolean;
  children?: ReactNode;
}

/** Provide the auth client to the tree below and check the session once on mount. */
export function AuthProvider({ client, baseURL, checkOnMount = true, children }: AuthProviderProps) {
  const [own] = useState<AuthClient | null>(() => (client ? null : createAuthClient({ baseURL })));
  const value = client ?? (own as AuthClient);
  useEffect(() => {
    if (checkOnMount && value.getState().status === "loading") void value.getSession();
  }, [value, checkOnMount]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

/** The client from the nearest `AuthProvider`. */
export function useAuthClient(): AuthClient {
  const client = useContext(AuthContext);
  if (!client) throw new Error("useAuth/useSession must be used inside <AuthProvider>");
  return client;
}

function useAuthState(client: AuthClient) {
  return useSyncExternalStore(client.subscribe, client.getState, client.getState);
}

export interface UseAuthResult {
  user: User | null;
  session: Session | null;
  status: AuthStatus;
  /** `status === "loading"`, for code written against @authingo/react. */
  loading: boolean;
  error: AuthClientError | null;
  /** Ask the server again (refreshing once if needed); resolves to the session or null. */
  checkSession(): Promise<SessionData | null>;
  /** Sign out here and in every other tab. */
  logout(): Promise<void>;
  signIn: { email(input: SignInInput): Promise<Result<SessionData | MfaChallenge>> };
  signUp: { email(input: SignUpInput): Promise<Result<SessionData>> };
  client: AuthClient;
}

/** Who is signed in, and the actions that change it. Re-renders on every change, in any tab. */
export function useAuth(): UseAuthResult {
  const client = useAuthClient();
  const state = useAuthState(client);
  const checkSession = useCallback(async () => (await client.getSession()).data, [client]);
  const logout = useCallback(async () => {
    await client.signOut();
  }, [client]);
  return useMemo(
    () => ({
      user: state.user,
      session: state.session,
      status: state.status,
      loading: state.status === "loading",
      error: state.error,
      checkSession,
      logout,
      signIn: client.signIn,
      signUp: client.signUp,
      client,
    }),
    [state, checkSession, logout, client],
  );
}

export interface UseSessionResult {
  data: SessionData | null;
  status: AuthStatus;
  /** Re-check the session with the server. */
  update(): Promise<SessionData | null>;
}

/** The session in Auth.js's shape: `{ data, status, update }`. */
export function useSession(): UseSessionResult {
  const client = useAuthClient();
  const state = useAuthState(client);
  const update = useCallback(async () => (await client.getSession()).data, [client]);
  return useMemo(
    () => ({
      data: state.user && state.session ? { user: state.user, session: state.session } : null,
      status: state.status,
      update,
    }),
    [state, update],
  );
}
