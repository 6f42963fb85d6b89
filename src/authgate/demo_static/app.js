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

function showError(error) {
  show(error.message, "error", error.kind);
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
  $("signed-out").hidden = state.status !== "unauthenticated";
  $("signed-out-signin").hidden = state.status !== "unauthenticated";
  $("session-json").textContent = JSON.stringify(state.user ? { user: state.user, session: state.session } : null, null, 2);
  if (!signedIn) $("sessions-list").replaceChildren();
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
        void loadSessions();
      }
      break;
  }
});

async function loadSessions() {
  const { data, error } = await auth.listSessions();
  if (auth.getState().status !== "authenticated") return; // signed out meanwhile (maybe in another tab)
  if (error) return showError(error);
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
      const revoke = document.createElement("button");
      revoke.type = "button";
      revoke.className = "danger revoke";
      revoke.textContent = "Revoke";
      revoke.dataset.id = s.id;
      revoke.addEventListener("click", async () => {
        const result = await auth.revokeSession(s.id);
        if (result.error) return showError(result.error);
        show(`Revoked ${result.data.revoked} session`, "ok");
        await loadSessions();
      });
      li.append(revoke);
    }
    return li;
  });
  $("sessions-list").replaceChildren(...items);
}

async function withButton(button, work) {
  button.disabled = true;
  try {
    await work();
  } finally {
    button.disabled = false;
  }
}

$("signup-form").addEventListener("submit", (event) => {
  event.preventDefault();
  void withButton($("signup-submit"), async () => {
    const name = $("signup-name").value.trim();
    const { data, error } = await auth.signUp.email({
      email: $("signup-email").value,
      password: $("signup-password").value,
      ...(name ? { name } : {}),
    });
    if (error) return showError(error);
    $("signup-form").reset();
    show(`Welcome, ${data.user.name || data.user.email}`, "ok");
    await loadSessions();
  });
});

$("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  void withButton($("signin-submit"), async () => {
    const { data, error } = await auth.signIn.email({ email: $("signin-email").value, password: $("signin-password").value });
    if (error) return showError(error);
    if (isMfaChallenge(data)) return show(`A second factor is required (${data.methods.join(", ")})`, "error", "MfaRequired");
    $("signin-form").reset();
    show(`Signed in as ${data.user.email}`, "ok");
    await loadSessions();
  });
});

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
const { data, error } = await auth.getSession();
if (error) showError(error);
else if (data) {
  show(`Signed in as ${data.user.email}`, "ok");
  await loadSessions();
} else show("Not signed in: create an account or sign in", "");
document.body.dataset.ready = "true";
