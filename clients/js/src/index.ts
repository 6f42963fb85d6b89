/**
 * @authgate/client: talk to an authgate server from the browser (or Node) with HttpOnly cookie
 * sessions, one transparent refresh on expiry shared across tabs, and typed results.
 *
 *     const auth = createAuthClient();
 *     const { data, error } = await auth.signIn.email({ email, password });
 *     const res = await auth.authFetch("/api/private");
 */

export { createAuthClient, isMfaChallenge } from "./client.js";
export type { AuthClient, MfaVerifyInput, SignInInput, SignUpInput } from "./client.js";
export { AuthClientError } from "./types.js";
export type {
  AuthClientOptions,
  AuthEvent,
  AuthState,
  AuthStatus,
  ErrorKind,
  FetchLike,
  MfaChallenge,
  Result,
  Session,
  SessionData,
  SessionInfo,
  User,
} from "./types.js";
