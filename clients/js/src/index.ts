/**
 * @authgate/client: talk to an authgate server from the browser (or Node) with HttpOnly cookie
 * sessions, one transparent refresh on expiry shared across tabs, and typed results.
 *
 *     const auth = createAuthClient();
 *     const { data, error } = await auth.signIn.email({ email, password });
 *     const res = await auth.authFetch("/api/private");
 */

export { createAuthClient, isMfaChallenge } from "./client.js";
export type { AuthClient, SignInInput, SignUpInput } from "./client.js";
export type {
  AccountMethods,
  ChangePasswordInput,
  MfaMethods,
  MfaVerifyInput,
  PasskeyMethods,
  ResetPasswordInput,
} from "./account.js";
export { AuthClientError } from "./types.js";
export type {
  AuthClientOptions,
  AuthEvent,
  AuthState,
  AuthStatus,
  ErrorKind,
  FetchLike,
  MfaChallenge,
  MfaStatus,
  PasskeyInfo,
  ProviderInfo,
  Result,
  Session,
  SessionData,
  SessionInfo,
  TotpEnrollment,
  User,
} from "./types.js";
