/** The shapes authgate's HTTP API sends (DESIGN section 3), and the client's own result types. */

/** A user as the server shows it: never a password hash or a token. */
export interface User {
  id: string;
  email: string;
  name: string | null;
  email_verified: boolean;
  image: string | null;
  created_at: string;
  updated_at: string;
}

/** The public part of a session. `expires_at` is when the access token dies. */
export interface Session {
  id: string;
  user_id: string;
  expires_at: string;
  refresh_expires_at: string;
  created_at: string;
}

/** What sign-up, sign-in, GET /session, refresh and MFA verification answer. */
export interface SessionData {
  user: User;
  session: Session;
}

/** Sign-in answer when the account has a second factor: finish with `mfa.verify`. */
export interface MfaChallenge {
  mfa_required: true;
  challenge: string;
  expires_in: number;
  methods: string[];
}

/** One row of GET /sessions. */
export interface SessionInfo {
  id: string;
  created_at: string;
  last_used_at: string | null;
  ip: string | null;
  user_agent: string | null;
  current: boolean;
}

/** GET /mfa: which second factors the signed-in user has. */
export interface MfaStatus {
  factors: { kind: "totp" | "email" | (string & {}); confirmed: boolean }[];
  recovery_codes_left: number;
  required: boolean;
}

/** POST /mfa/totp/enroll: show `qr_svg` (a `data:` URI for an `<img>`) or the secret, once. */
export interface TotpEnrollment {
  secret: string;
  otpauth_uri: string;
  qr_svg: string;
}

/** One passkey of the signed-in user (GET /passkeys). `id` is the credential id, base64url. */
export interface PasskeyInfo {
  id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
  backed_up: boolean;
  transports: string[];
}

/** One entry of GET /providers. `type` is "oauth", "oidc" or "credentials". */
export interface ProviderInfo {
  id: string;
  name: string;
  type: "oauth" | "oidc" | "credentials" | (string & {});
  signinUrl: string;
  callbackUrl: string;
}

/**
 * Every `kind` the server documents, plus the client's own `NetworkError` (no answer at all),
 * `InvalidResponse` (an answer that is not authgate JSON) and the `Passkey*` kinds of a browser
 * ceremony that failed before the server was asked. Unknown kinds pass through as strings.
 */
export type ErrorKind =
  | "InvalidRequest"
  | "CredentialsSignin"
  | "EmailInUse"
  | "MissingCSRF"
  | "ForbiddenOrigin"
  | "PayloadTooLarge"
  | "UnsupportedMediaType"
  | "Unauthenticated"
  | "SessionExpired"
  | "InvalidRefreshToken"
  | "RefreshTokenReuse"
  | "RefreshInProgress"
  | "ServiceUnavailable"
  | "RateLimited"
  | "Verification"
  | "NotFound"
  | "PasskeyInUse"
  | "AccessDenied"
  | "ReauthenticationRequired"
  | "NetworkError"
  | "InvalidResponse"
  | "PasskeyUnsupported"
  | "PasskeyCancelled"
  | "PasskeyError"
  | (string & {});

/** A failed call: the server's `{error, kind, field?}` with the HTTP status (0 without an answer). */
export class AuthClientError extends Error {
  readonly status: number;
  readonly kind: ErrorKind;
  readonly field: string | undefined;

  constructor(message: string, kind: ErrorKind, status: number, field?: string) {
    super(message);
    this.name = "AuthClientError";
    this.kind = kind;
    this.status = status;
    this.field = field;
  }
}

/** Expected failures are values, not exceptions: check `error` before using `data`. */
export type Result<T> = { data: T; error: null } | { data: null; error: AuthClientError };

export type AuthStatus = "loading" | "authenticated" | "unauthenticated";

/** The client's view of who is signed in; React reads it through `useAuth()`. */
export interface AuthState {
  status: AuthStatus;
  user: User | null;
  session: Session | null;
  /** The last failure that was not simply "signed out" (e.g. the server was unreachable). */
  error: AuthClientError | null;
}

/** What the client did, for logs and tests (the demo page prints these). */
export type AuthEvent =
  | { type: "signed-in"; data: SessionData }
  | { type: "signed-out"; reason: "sign-out" | "refresh-failed" | "other-tab" | "session-ended" }
  | { type: "refreshed"; data: SessionData | null }
  | { type: "refresh-shared"; from: "this-tab" | "other-tab" }
  | { type: "refresh-failed"; error: AuthClientError }
  | { type: "session-updated"; source: "other-tab"; reason: "signed-in" | "refreshed" };

export type FetchLike = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

export interface AuthClientOptions {
  /**
   * Where the server is: an origin (`https://api.example.com`, auth routes under `basePath`), or a
   * full auth URL (`https://api.example.com/api/auth`). Empty (the default) means this page's own
   * origin, which is what browsers want; Node needs an absolute URL.
   */
  baseURL?: string;
  /** Path the auth routes are mounted at when `baseURL` is an origin. Default `/api/auth`. */
  basePath?: string;
  /** The fetch to use (default: the global one). Node tests pass one that keeps cookies. */
  fetch?: FetchLike;
  /**
   * Coordinate refreshes, sign-ins and sign-outs with other tabs of this origin (Web Locks,
   * BroadcastChannel, localStorage, where the platform has them). Default: true in browsers, where
   * tabs share one cookie jar; false elsewhere (in Node each client keeps its own cookies).
   */
  crossTab?: boolean;
  /** Give up on a refresh request after this many milliseconds. Default 15000. */
  refreshTimeoutMs?: number;
}
