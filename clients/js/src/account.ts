/**
 * The calls beyond signing in and out: second factors, passkeys, providers and the account
 * lifecycle (verify email, forgot/reset/change password, change email, delete account). They use
 * the same plumbing as the core client (cookies, anti-CSRF header, one refresh on a 401).
 */

import {
  AuthClientError,
  type MfaChallenge,
  type MfaStatus,
  type PasskeyInfo,
  type ProviderInfo,
  type Result,
  type SessionData,
  type TotpEnrollment,
  type User,
} from "./types.js";
import {
  assertionToJSON,
  ceremonyError,
  credentialsContainer,
  registrationToJSON,
  toCreationOptions,
  toRequestOptions,
} from "./webauthn.js";

/** What `createAuthClient` lends this module. */
export interface ClientInternals {
  authURL(path: string): string;
  send(path: string, method: string, body?: unknown): Promise<Response>;
  withRefresh(doSend: () => Promise<Response>): Promise<Response>;
  call<T>(doSend: () => Promise<Response>, parse: (body: unknown) => T | null): Promise<Result<T>>;
  startSession(path: string, body: unknown): Promise<Result<SessionData | MfaChallenge>>;
  /** The server ended every session of this user and cleared the cookies. */
  endedOnServer(): void;
  /** The server changed the user (email verified): show it if it is the one signed in. */
  userChanged(user: User): void;
}

export interface MfaVerifyInput {
  challenge: string;
  code: string;
  trustDevice?: boolean;
}

export interface MfaMethods {
  /** Finish a sign-in that answered `mfa_required` (code: TOTP, emailed code or recovery code). */
  verify(input: MfaVerifyInput): Promise<Result<SessionData>>;
  status(): Promise<Result<MfaStatus>>;
  /** Start TOTP enrolment: show `qr_svg` / `secret`, then call `confirmTotp` with a first code. */
  enrollTotp(): Promise<Result<TotpEnrollment>>;
  /** Turn TOTP on; the answer holds the recovery codes, shown this once. */
  confirmTotp(code: string): Promise<Result<{ enabled: true; recovery_codes: string[] }>>;
  disableTotp(code: string): Promise<Result<{ disabled: boolean }>>;
  /** New recovery codes (the old ones stop working); needs a current TOTP code. */
  regenerateRecoveryCodes(code: string): Promise<Result<{ recovery_codes: string[] }>>;
  /** Emailed one-time codes as the second factor (the address must be verified). */
  enableEmail(): Promise<Result<{ enabled: true }>>;
  disableEmail(password: string): Promise<Result<{ disabled: boolean }>>;
}

export interface PasskeyMethods {
  /** Create a passkey for the signed-in user (browser prompt) and store it on the server. */
  register(input?: { name?: string }): Promise<Result<PasskeyInfo>>;
  /** Sign in with any passkey of this site (discoverable credential; the browser asks which). */
  signIn(): Promise<Result<SessionData>>;
  list(): Promise<Result<PasskeyInfo[]>>;
  rename(id: string, name: string): Promise<Result<{ renamed: true }>>;
  delete(id: string): Promise<Result<{ deleted: true }>>;
}

export interface ChangePasswordInput {
  currentPassword: string;
  newPassword: string;
}

export interface ResetPasswordInput {
  token: string;
  password: string;
}

export interface AccountMethods {
  /** Email the signed-in user a verification link (printed to the terminal by `authgate demo`). */
  sendVerificationEmail(): Promise<Result<{ sent: true }>>;
  /** Confirm an address with the token from the link (the link itself also works, as a GET). */
  verifyEmail(token: string): Promise<Result<{ user: User }>>;
  /** Always succeeds for a well-formed request, whether or not the address has an account. */
  forgotPassword(email: string): Promise<Result<{ success: true }>>;
  /** Set a new password from a reset link's `?token=`; every session of the user ends. */
  resetPassword(input: ResetPasswordInput): Promise<Result<{ success: true }>>;
  /** Other sessions end; this one stays. */
  changePassword(input: ChangePasswordInput): Promise<Result<{ success: true }>>;
  /**
   * Step-up: prove the password (or a current TOTP code) again. Adding or removing a passkey, a
   * factor or a provider, changing the email and deleting the account answer 403
   * `ReauthenticationRequired` more than `reauth_window` (10 min) after the last sign-in; after
   * this call they pass for that long again.
   */
  reauthenticate(input: { password?: string; code?: string }): Promise<Result<{ reauthenticated: true; auth_time: string }>>;
  /** Email a confirmation link to the new address; the change happens when it is opened. */
  /** Ask to move the account to `email`; needs the current password (accounts without one: a recent sign-in). */
  changeEmail(email: string, password?: string): Promise<Result<{ verification_sent: true }>>;
  /** Delete the signed-in user (password needed when the account has one) and sign out. */
  deleteAccount(input?: { password?: string }): Promise<Result<{ deleted: true }>>;
  /** GET /providers, keyed by provider id. */
  listProviders(): Promise<Result<Record<string, ProviderInfo>>>;
  /**
   * The URL that starts an OAuth/OIDC sign-in with `provider` (a full-page navigation, not a
   * fetch: the provider's pages must be shown). `callbackUrl` is where to land afterwards.
   */
  providerSignInURL(provider: string, options?: { callbackUrl?: string }): string;
}

/** A parser that accepts an object answer holding `key` (the route's success shape). */
function has<T>(key: string): (body: unknown) => T | null {
  return (body) => (body !== null && typeof body === "object" && key in body ? (body as T) : null);
}

export function accountMethods(c: ClientInternals): { mfa: Omit<MfaMethods, "verify">; passkey: PasskeyMethods; account: AccountMethods } {
  const signedIn = <T>(path: string, method: string, parse: (body: unknown) => T | null, body?: unknown) =>
    c.call(() => c.withRefresh(() => c.send(path, method, body)), parse);

  async function ceremony<T>(run: (container: CredentialsContainer) => Promise<Credential | null>, convert: (credential: PublicKeyCredential) => T): Promise<Result<T>> {
    const container = credentialsContainer();
    if (container instanceof AuthClientError) return { data: null, error: container };
    try {
      const credential = await run(container);
      if (!credential) return { data: null, error: ceremonyError(new DOMException("no credential", "NotAllowedError")) };
      return { data: convert(credential as PublicKeyCredential), error: null };
    } catch (cause) {
      return { data: null, error: ceremonyError(cause) };
    }
  }

  const mfa: Omit<MfaMethods, "verify"> = {
    status: () => signedIn("/mfa", "GET", (b) => (Array.isArray((b as MfaStatus).factors) ? (b as MfaStatus) : null)),
    enrollTotp: () => signedIn("/mfa/totp/enroll", "POST", has("qr_svg")),
    confirmTotp: (code) => signedIn("/mfa/totp/confirm", "POST", has("recovery_codes"), { code }),
    disableTotp: (code) => signedIn("/mfa/totp/disable", "POST", has("disabled"), { code }),
    regenerateRecoveryCodes: (code) => signedIn("/mfa/recovery-codes", "POST", has("recovery_codes"), { code }),
    enableEmail: () => signedIn("/mfa/email/enable", "POST", has("enabled")),
    disableEmail: (password) => signedIn("/mfa/email/disable", "POST", has("disabled"), { password }),
  };

  const passkey: PasskeyMethods = {
    async register(input = {}) {
      const options = await signedIn("/passkey/register/options", "POST", has<Record<string, unknown>>("challenge"));
      if (options.error) return options;
      const made = await ceremony(
        (container) => container.create({ publicKey: toCreationOptions(options.data) }),
        registrationToJSON,
      );
      if (made.error) return made;
      const body = { credential: made.data, ...(input.name ? { name: input.name } : {}) };
      const stored = await signedIn("/passkey/register/verify", "POST", has<{ passkey: PasskeyInfo }>("passkey"), body);
      return stored.error ? stored : { data: stored.data.passkey, error: null };
    },

    async signIn() {
      const options = await c.call(() => c.send("/signin/passkey", "POST"), has<Record<string, unknown>>("challenge"));
      if (options.error) return options;
      const got = await ceremony(
        (container) => container.get({ publicKey: toRequestOptions(options.data) }),
        assertionToJSON,
      );
      if (got.error) return got;
      // Passkeys are a complete sign-in on their own: the answer is always a session.
      return c.startSession("/callback/passkey", { credential: got.data }) as Promise<Result<SessionData>>;
    },

    list: () => signedIn("/passkeys", "GET", (b) => {
      const list = (b as { passkeys?: unknown }).passkeys;
      return Array.isArray(list) ? (list as PasskeyInfo[]) : null;
    }),
    rename: (id, name) => signedIn(`/passkeys?id=${encodeURIComponent(id)}`, "PATCH", has("renamed"), { name }),
    delete: (id) => signedIn(`/passkeys?id=${encodeURIComponent(id)}`, "DELETE", has("deleted")),
  };

  const account: AccountMethods = {
    sendVerificationEmail: () => signedIn("/verify-email/send", "POST", has("sent")),
    async verifyEmail(token) {
      const result = await c.call(() => c.send("/verify-email", "POST", { token }), has<{ user: User }>("user"));
      if (result.data) c.userChanged(result.data.user);
      return result;
    },
    forgotPassword: (email) => c.call(() => c.send("/forgot-password", "POST", { email }), has("success")),
    async resetPassword(input) {
      const body = { token: input.token, password: input.password };
      const result = await c.call(() => c.send("/reset-password", "POST", body), has<{ success: true }>("success"));
      if (result.data) c.endedOnServer();
      return result;
    },
    changePassword: (input) =>
      signedIn("/change-password", "POST", has("success"), { current_password: input.currentPassword, new_password: input.newPassword }),
    reauthenticate: (input) => signedIn("/reauthenticate", "POST", has("reauthenticated"), input),
    changeEmail: (email, password) =>
      signedIn("/change-email", "POST", has("verification_sent"), password === undefined ? { email } : { email, password }),
    async deleteAccount(input = {}) {
      const body = input.password === undefined ? {} : { password: input.password };
      const result = await signedIn("/delete-account", "POST", has<{ deleted: true }>("deleted"), body);
      if (result.data) c.endedOnServer();
      return result;
    },
    listProviders: () =>
      c.call(() => c.send("/providers", "GET"), (b) => (b && typeof b === "object" && !Array.isArray(b) ? (b as Record<string, ProviderInfo>) : null)),
    providerSignInURL(provider, options = {}) {
      const query = options.callbackUrl === undefined ? "" : `?callbackUrl=${encodeURIComponent(options.callbackUrl)}`;
      return c.authURL(`/signin/${encodeURIComponent(provider)}${query}`);
    },
  };

  return { mfa, passkey, account };
}
