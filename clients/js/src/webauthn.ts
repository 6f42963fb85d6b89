/**
 * WebAuthn glue: the server sends options as JSON with base64url strings where the browser API
 * wants ArrayBuffers, and wants the browser's credential back as JSON with base64url strings
 * (the WebAuthn Level 3 JSON shapes, which py_webauthn reads). Conversion is done here by hand, so
 * it works in browsers without `PublicKeyCredential.parseCreationOptionsFromJSON` / `toJSON`.
 */

import { AuthClientError } from "./types.js";

type Json = Record<string, unknown>;

export function base64urlToBuffer(text: string): ArrayBuffer {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

export function bufferToBase64url(buffer: ArrayBuffer | ArrayBufferView): string {
  const bytes = buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 1) binary += String.fromCharCode(bytes[i]!);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function descriptors(list: unknown): PublicKeyCredentialDescriptor[] | undefined {
  if (!Array.isArray(list)) return undefined;
  return list.map((item: Json) => ({
    ...(item as object),
    type: "public-key",
    id: base64urlToBuffer(String(item.id)),
  })) as PublicKeyCredentialDescriptor[];
}

/** POST /passkey/register/options JSON -> what `navigator.credentials.create` takes. */
export function toCreationOptions(json: Json): PublicKeyCredentialCreationOptions {
  const user = json.user as Json;
  const options = {
    ...json,
    challenge: base64urlToBuffer(String(json.challenge)),
    user: { ...user, id: base64urlToBuffer(String(user.id)) },
  } as unknown as PublicKeyCredentialCreationOptions;
  const exclude = descriptors(json.excludeCredentials);
  if (exclude) options.excludeCredentials = exclude;
  return options;
}

/** POST /signin/passkey JSON -> what `navigator.credentials.get` takes. */
export function toRequestOptions(json: Json): PublicKeyCredentialRequestOptions {
  const options = { ...json, challenge: base64urlToBuffer(String(json.challenge)) } as unknown as PublicKeyCredentialRequestOptions;
  const allow = descriptors(json.allowCredentials);
  if (allow) options.allowCredentials = allow;
  return options;
}

function common(credential: PublicKeyCredential): Json {
  return {
    id: credential.id,
    rawId: bufferToBase64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment ?? undefined,
    clientExtensionResults: credential.getClientExtensionResults?.() ?? {},
  };
}

/** The result of `navigator.credentials.create` as the JSON /passkey/register/verify reads. */
export function registrationToJSON(credential: PublicKeyCredential): Json {
  const response = credential.response as AuthenticatorAttestationResponse;
  const transports = typeof response.getTransports === "function" ? response.getTransports() : [];
  return {
    ...common(credential),
    response: {
      clientDataJSON: bufferToBase64url(response.clientDataJSON),
      attestationObject: bufferToBase64url(response.attestationObject),
      transports,
    },
  };
}

/** The result of `navigator.credentials.get` as the JSON /callback/passkey reads. */
export function assertionToJSON(credential: PublicKeyCredential): Json {
  const response = credential.response as AuthenticatorAssertionResponse;
  return {
    ...common(credential),
    response: {
      clientDataJSON: bufferToBase64url(response.clientDataJSON),
      authenticatorData: bufferToBase64url(response.authenticatorData),
      signature: bufferToBase64url(response.signature),
      userHandle: response.userHandle ? bufferToBase64url(response.userHandle) : null,
    },
  };
}

/** `navigator.credentials`, or an error result when this environment has no WebAuthn. */
export function credentialsContainer(): CredentialsContainer | AuthClientError {
  const scope = globalThis as { navigator?: { credentials?: CredentialsContainer }; PublicKeyCredential?: unknown };
  if (!scope.PublicKeyCredential || !scope.navigator?.credentials) {
    return new AuthClientError("Passkeys are not available here (WebAuthn needs a browser and HTTPS or localhost)", "PasskeyUnsupported", 0);
  }
  return scope.navigator.credentials;
}

/**
 * A failed browser ceremony as a client error. The user closing the dialog, or no matching passkey,
 * both arrive as `NotAllowedError` (browsers do not tell them apart on purpose).
 */
export function ceremonyError(cause: unknown): AuthClientError {
  const name = cause instanceof Error ? cause.name : "";
  const message = cause instanceof Error ? cause.message : String(cause);
  if (name === "NotAllowedError" || name === "AbortError") {
    return new AuthClientError("The passkey prompt was cancelled or timed out", "PasskeyCancelled", 0);
  }
  if (name === "InvalidStateError") {
    return new AuthClientError("This authenticator already holds a passkey for this account", "PasskeyInUse", 0);
  }
  return new AuthClientError(`The browser refused the passkey request: ${message}`, "PasskeyError", 0);
}
