// The demo page, written against @authgate/client exactly as an app would use it.
import { createAuthClient, isMfaChallenge } from "./authgate-client.js";

const auth = createAuthClient(); // same origin: the routes are at /api/auth
window.authgate = auth; // for poking at it from the devtools console

const $ = (id) => document.getElementById(id);

function show(text, tone = "", kind = "") {
  $("message").dataset.tone = tone;
  $("error-kind").textContent = kind;
  $("message-text").textContent = text;
}

/** Field errors sit under their input; everything else goes to the message line. */
function clearErrors() {
  for (const small of document.querySelectorAll(".field-error")) small.textContent = "";
  for (const input of document.querySelectorAll("input[aria-invalid]")) input.removeAttribute("aria-invalid");
}

function showError(error, form) {
  const input = error.field && form ? form.querySelector(`[data-field~="${error.field}"]`) : null;
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.parentElement.querySelector(".field-error").textContent = error.message;
    input.focus();
  }
  show(error.message, "error", error.kind);
}

/** A button that is not a form's submit button. */
function actionButton(className, text, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  button.textContent = text;
  button.addEventListener("click", onClick);
  return button;
}

function log(text) {
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  item.dataset.event = text.split(" ")[0];
  $("log").prepend(item);
}

function render(state) {
  $("status").textContent = state.status;
  $("status").dataset.status = state.status;
  document.body.dataset.status = state.status;
  $("user-email").textContent = state.user ? state.user.email : "nobody";
  const signedIn = state.status === "authenticated";
  $("signed-in").hidden = !signedIn;
  $("sessions-panel").hidden = !signedIn;
  const signedOut = state.status === "unauthenticated";
  for (const id of ["signed-out", "signed-out-signin", "other-signin", "magic-panel", "forgot-panel"]) $(id).hidden = !signedOut;
  for (const id of ["totp-panel", "passkeys-panel", "account-panel", "email-mfa-panel"]) $(id).hidden = !signedIn;
  if (signedIn) $("mfa-panel").hidden = true;
  $("session-json").textContent = JSON.stringify(state.user ? { user: state.user, session: state.session } : null, null, 2);
  $("email-address").textContent = state.user ? state.user.email : "";
  const verified = !!state.user?.email_verified;
  $("email-verified").dataset.on = String(verified);
  $("email-verified").textContent = verified ? "verified" : "not verified";
  $("verify-email-send").hidden = verified;
  if (!signedIn) {
    $("sessions-list").replaceChildren();
    $("passkeys-list").replaceChildren();
    $("recovery-codes-list").replaceChildren();
    $("recovery-codes").hidden = true;
    $("totp-setup").hidden = true;
  }
}

auth.subscribe(render);
auth.onEvent((event) => {
  switch (event.type) {
    case "signed-in":
      log(`signed-in ${event.data.user.email}`);
      break;
    case "signed-out":
      log(`signed-out (${event.reason})`);
      if (event.reason !== "sign-out") show(`Signed out (${event.reason.replace("-", " ")})`, "error");
      break;
    case "refreshed":
      log("refreshed tokens rotated");
      break;
    case "refresh-shared":
      log(`refresh-shared with ${event.from}`);
      break;
    case "refresh-failed":
      log(`refresh-failed ${event.error.kind}`);
      break;
    case "session-updated":
      log(`session-updated (${event.reason} in another tab)`);
      if (event.reason === "signed-in") {
        show("Signed in from another tab", "ok");
        void loadAccount();
      }
      break;
  }
});

/** Everything the signed-in panels show, loaded after each sign-in. */
async function loadAccount() {
  await Promise.all([loadSessions(), loadMfa(), loadPasskeys()]);
}

/** What a signed-in panel shows: the call's data, or null when the call failed (the error is shown)
 * or the user signed out meanwhile (maybe in another tab). */
async function panelData(call) {
  const { data, error } = await call();
  if (auth.getState().status !== "authenticated") return null;
  if (error) {
    showError(error);
    return null;
  }
  return data;
}

async function loadSessions() {
  const data = await panelData(() => auth.listSessions());
  if (!data) return;
  const items = data.map((s) => {
    const li = document.createElement("li");
    li.dataset.sessionId = s.id;
    const meta = document.createElement("span");
    meta.className = "meta";
    const agent = s.user_agent || "unknown client";
    meta.title = agent;
    meta.textContent = `${s.current ? "this session · " : ""}${agent} · ${s.ip || "?"} · since ${new Date(s.created_at).toLocaleString()}`;
    li.append(meta);
    if (!s.current) {
      const revoke = actionButton("danger revoke", "Revoke", async () => {
        const result = await auth.revokeSession(s.id);
        if (result.error) return showError(result.error);
        show(`Revoked ${result.data.revoked} session`, "ok");
        await loadSessions();
      });
      revoke.dataset.id = s.id;
      li.append(revoke);
    }
    return li;
  });
  $("sessions-list").replaceChildren(...items);
}

/** Every action starts clean: the previous action's errors never sit beside this one's. */
async function withButton(button, work) {
  button.disabled = true;
  clearErrors();
  show("", "");
  try {
    await work();
  } finally {
    button.disabled = false;
  }
}

/**
 * A form that calls the client: on submit, `call` runs with the button disabled and answers the
 * client's `{ data, error }`; an error is shown beside the form's fields, success resets the form
 * and goes on with `done(data)`.
 */
function onSubmit(formId, buttonId, call, done) {
  const form = $(formId);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void withButton($(buttonId), async () => {
      const { data, error } = await call();
      if (error) return showError(error, form);
      form.reset();
      await done(data);
    });
  });
}

onSubmit(
  "signup-form",
  "signup-submit",
  () => {
    const name = $("signup-name").value.trim();
    return auth.signUp.email({
      email: $("signup-email").value,
      password: $("signup-password").value,
      ...(name ? { name } : {}),
    });
  },
  async (data) => {
    show(`Welcome, ${data.user.name || data.user.email}`, "ok");
    await loadAccount();
  },
);

onSubmit(
  "signin-form",
  "signin-submit",
  () => auth.signIn.email({ email: $("signin-email").value, password: $("signin-password").value }),
  async (data) => {
    if (isMfaChallenge(data)) return askForSecondFactor(data);
    show(`Signed in as ${data.user.email}`, "ok");
    await loadAccount();
  },
);

// -- second factor at sign-in ---------------------------------------------------------------------

let pendingChallenge = null;

function askForSecondFactor(challenge) {
  pendingChallenge = challenge;
  const labels = { totp: "authenticator app", email: "emailed code", recovery_code: "recovery code" };
  $("mfa-hint").textContent = `Enter a code: ${challenge.methods.map((m) => labels[m] || m).join(", ")}.`;
  $("mfa-panel").hidden = false;
  $("mfa-panel").dataset.methods = challenge.methods.join(" ");
  show("A second factor is required", "", "");
  $("mfa-code").focus();
}

$("mfa-form").addEventListener("submit", (event) => {
  event.preventDefault();
  void withButton($("mfa-submit"), async () => {
    if (!pendingChallenge) return show("Sign in again first", "error");
    const { data, error } = await auth.mfa.verify({
      challenge: pendingChallenge.challenge,
      code: $("mfa-code").value.trim(),
      trustDevice: $("mfa-trust").checked,
    });
    if (error) return showError(error, $("mfa-form"));
    pendingChallenge = null;
    $("mfa-form").reset();
    $("mfa-panel").hidden = true;
    show(`Signed in as ${data.user.email}`, "ok");
    await loadAccount();
  });
});

// A provider sign-in that needs a second factor lands here with the challenge in the fragment.
{
  const fragment = new URLSearchParams(location.hash.slice(1));
  const challenge = fragment.get("mfa_challenge");
  if (challenge) {
    history.replaceState(null, "", location.pathname + location.search);
    askForSecondFactor({ mfa_required: true, challenge, methods: (fragment.get("methods") || "").split(",") });
  }
}

$("mfa-cancel").addEventListener("click", () => {
  pendingChallenge = null;
  $("mfa-form").reset();
  $("mfa-panel").hidden = true;
  show("Not signed in", "");
});

// -- TOTP enrolment --------------------------------------------------------------------------------

async function loadMfa() {
  const data = await panelData(() => auth.mfa.status());
  if (!data) return;
  const emailOn = data.factors.some((f) => f.kind === "email" && f.confirmed !== false);
  $("email-mfa-state").dataset.on = String(emailOn);
  $("email-mfa-state").textContent = emailOn ? "on" : "off";
  $("email-mfa-enable").hidden = emailOn;
  $("email-mfa-disable-form").hidden = !emailOn;
  const totp = data.factors.find((f) => f.kind === "totp");
  const on = !!totp?.confirmed;
  $("recovery-regenerate-form").hidden = !on;
  $("totp-state").dataset.on = String(on);
  $("totp-state").textContent = on ? `on · ${data.recovery_codes_left} recovery codes left` : totp ? "pending" : "off";
  $("totp-off").hidden = on || !$("totp-setup").hidden; // while setting up, the form is the next step
  $("totp-disable-form").hidden = !on;
  if (on) $("totp-setup").hidden = true;
}

$("totp-enroll").addEventListener("click", () =>
  withButton($("totp-enroll"), async () => {
    const { data, error } = await auth.mfa.enrollTotp();
    if (error) return showError(error);
    $("totp-qr").src = data.qr_svg;
    $("totp-secret").textContent = data.secret;
    $("totp-setup").hidden = false;
    $("totp-off").hidden = true;
    $("recovery-codes").hidden = true;
    $("totp-code").focus();
    show("Scan the QR code, then enter the code your app shows", "ok");
    await loadMfa();
  }),
);

onSubmit(
  "totp-confirm-form",
  "totp-confirm",
  () => auth.mfa.confirmTotp($("totp-code").value.trim()),
  async (data) => {
    $("totp-setup").hidden = true;
    $("totp-qr").removeAttribute("src");
    $("totp-secret").textContent = "";
    showRecoveryCodes(data.recovery_codes);
    show("Authenticator app turned on: save your recovery codes", "ok");
    await loadMfa();
  },
);

$("recovery-codes-done").addEventListener("click", () => {
  $("recovery-codes-list").replaceChildren();
  $("recovery-codes").hidden = true;
});

onSubmit(
  "totp-disable-form",
  "totp-disable",
  () => auth.mfa.disableTotp($("totp-disable-code").value.trim()),
  async () => {
    show("Authenticator app turned off", "ok");
    await loadMfa();
  },
);

function showRecoveryCodes(codes) {
  const items = codes.map((code) => {
    const li = document.createElement("li");
    li.textContent = code;
    return li;
  });
  $("recovery-codes-list").replaceChildren(...items);
  $("recovery-codes").hidden = false;
}

onSubmit(
  "recovery-regenerate-form",
  "recovery-regenerate",
  () => auth.mfa.regenerateRecoveryCodes($("recovery-regenerate-code").value.trim()),
  async (data) => {
    showRecoveryCodes(data.recovery_codes);
    show("New recovery codes: the old ones no longer work", "ok");
    await loadMfa();
  },
);

// -- email codes -------------------------------------------------------------------------------------

$("email-mfa-enable").addEventListener("click", () =>
  withButton($("email-mfa-enable"), async () => {
    const { error } = await auth.mfa.enableEmail();
    if (error) return showError(error);
    show("Email codes turned on: the next password sign-in asks for one", "ok");
    await loadMfa();
  }),
);

onSubmit(
  "email-mfa-disable-form",
  "email-mfa-disable",
  () => auth.mfa.disableEmail($("email-mfa-password").value),
  async () => {
    show("Email codes turned off", "ok");
    await loadMfa();
  },
);

// -- account: password, email, deletion ----------------------------------------------------------------

onSubmit(
  "password-form",
  "password-submit",
  () => auth.changePassword({ currentPassword: $("password-current").value, newPassword: $("password-new").value }),
  async () => {
    show("Password changed; your other sessions were signed out", "ok");
    await loadSessions();
  },
);

onSubmit(
  "email-form",
  "email-submit",
  () => auth.changeEmail($("email-new").value, $("email-password").value || undefined),
  () => show("Confirmation link sent to the new address (the demo prints it in its terminal)", "ok"),
);

onSubmit(
  "delete-form",
  "delete-submit",
  () => {
    const password = $("delete-password").value;
    return auth.deleteAccount(password ? { password } : {});
  },
  () => show("Account deleted", "ok"),
);

// -- passkeys ----------------------------------------------------------------------------------------

async function loadPasskeys() {
  const data = await panelData(() => auth.passkey.list());
  if (!data) return;
  const items = data.map((p) => {
    const li = document.createElement("li");
    li.dataset.passkeyId = p.id;
    const name = document.createElement("input");
    name.className = "passkey-name";
    name.value = p.name;
    name.maxLength = 255;
    name.title = `added ${new Date(p.created_at).toLocaleString()}` + (p.last_used_at ? `, last used ${new Date(p.last_used_at).toLocaleString()}` : "");
    const rename = actionButton("secondary rename", "Rename", () =>
      withButton(rename, async () => {
        const result = await auth.passkey.rename(p.id, name.value.trim());
        if (result.error) return showError(result.error);
        show(`Passkey renamed to ${name.value.trim()}`, "ok");
        await loadPasskeys();
      }),
    );
    const remove = actionButton("danger delete", "Delete", () =>
      withButton(remove, async () => {
        const result = await auth.passkey.delete(p.id);
        if (result.error) return showError(result.error);
        show("Passkey deleted", "ok");
        await loadPasskeys();
      }),
    );
    li.append(name, rename, remove);
    return li;
  });
  $("passkeys-list").replaceChildren(...items);
  $("passkeys-empty").hidden = items.length > 0;
}

$("passkey-register").addEventListener("click", () =>
  withButton($("passkey-register"), async () => {
    const name = $("passkey-name").value.trim();
    const { data, error } = await auth.passkey.register(name ? { name } : {});
    if (error) return showError(error);
    $("passkey-name").value = "";
    show(`Passkey "${data.name}" registered`, "ok");
    await loadPasskeys();
  }),
);

$("passkey-signin").addEventListener("click", () =>
  withButton($("passkey-signin"), async () => {
    const { data, error } = await auth.passkey.signIn();
    if (error) return showError(error);
    show(`Signed in with a passkey as ${data.user.email}`, "ok");
    await loadAccount();
  }),
);

// -- providers, email verification, password reset ----------------------------------------------

async function loadProviders() {
  const { data, error } = await auth.listProviders();
  if (error) return showError(error);
  const buttons = Object.values(data)
    .filter((p) => p.type === "oauth" || p.type === "oidc")
    .map((p) => {
      const button = actionButton("secondary provider", `Sign in with ${p.name}`, () =>
        auth.signIn.provider(p.id, { callbackUrl: "/" }),
      );
      button.id = `provider-${p.id}`;
      return button;
    });
  $("providers-list").replaceChildren(...buttons);
  $("providers-empty").hidden = buttons.length > 0;
}

$("verify-email-send").addEventListener("click", () =>
  withButton($("verify-email-send"), async () => {
    const { error } = await auth.sendVerificationEmail();
    if (error) return showError(error);
    show("Verification email sent (the demo prints it in its terminal)", "ok");
  }),
);

onSubmit(
  "magic-form",
  "magic-submit",
  () => auth.signIn.magicLink({ email: $("magic-email").value, callbackUrl: `${location.origin}/` }),
  () => show("If that address can sign in, a sign-in link is on its way (see the demo's terminal)", "ok"),
);

onSubmit(
  "forgot-form",
  "forgot-submit",
  () => auth.forgotPassword($("forgot-email").value),
  () => show("If that address has an account, a reset link is on its way (see the demo's terminal)", "ok"),
);

const params = new URLSearchParams(location.search);
const resetToken = params.get("token");

onSubmit(
  "reset-form",
  "reset-submit",
  () => auth.resetPassword({ token: resetToken, password: $("reset-password").value }),
  () => {
    $("reset-panel").hidden = true;
    history.replaceState(null, "", "/");
    show("Password changed: sign in with the new one", "ok");
  },
);

$("call-private").addEventListener("click", () =>
  withButton($("call-private"), async () => {
    $("private-result").textContent = "…";
    try {
      const response = await auth.authFetch("/api/private");
      const text = await response.text();
      if (response.ok) {
        $("private-result").textContent = text;
        show("Protected call succeeded", "ok");
      } else {
        let kind = "";
        try {
          kind = JSON.parse(text).kind || "";
        } catch {}
        $("private-result").textContent = `${response.status} ${kind}`;
        show(`Protected call failed with ${response.status}`, "error", kind);
      }
    } catch (error) {
      $("private-result").textContent = "network error";
      show(String(error), "error", "NetworkError");
    }
  }),
);

$("signout").addEventListener("click", () =>
  withButton($("signout"), async () => {
    const { error } = await auth.signOut();
    if (error) return showError(error);
    $("private-result").textContent = "(not called yet)";
    show("Signed out", "ok");
  }),
);

$("check-session").addEventListener("click", async () => {
  const { data, error } = await auth.getSession();
  if (error) return showError(error);
  show(data ? `Session is valid until ${new Date(data.session.expires_at).toLocaleTimeString()}` : "Not signed in", data ? "ok" : "");
});

$("sessions-load").addEventListener("click", () => void loadSessions());

$("revoke-others").addEventListener("click", async () => {
  const { data, error } = await auth.revokeOtherSessions();
  if (error) return showError(error);
  show(`Signed out ${data.revoked} other session(s)`, "ok");
  await loadSessions();
});

render(auth.getState());
void loadProviders();
const { data, error } = await auth.getSession();
if (error) showError(error);
else if (data) {
  show(`Signed in as ${data.user.email}`, "ok");
  await loadAccount();
} else show("Not signed in: create an account or sign in", "");
// Landing here from a link in an email (?token= for a reset, flags from /verify-email) or an error.
if (resetToken) {
  $("reset-panel").hidden = false;
  show("Choose a new password", "");
} else if (params.has("email_verified")) {
  show("Email address verified", "ok");
  history.replaceState(null, "", "/");
} else if (params.has("email_changed")) {
  show("Email address changed", "ok");
  history.replaceState(null, "", "/");
} else if (params.get("error")) {
  show("That link did not work (it may have expired or been used)", "error", params.get("error"));
  history.replaceState(null, "", "/");
}
document.body.dataset.ready = "true";
