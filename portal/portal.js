// The managers' portal: sign in (OpenID Connect with PKCE, Cloudflare Access, or a token in
// the URL fragment), then see, create, roll, describe and delete the keys of the consumers
// you manage, through keyward's /v1/me. No dependencies, no external requests: the Worker
// and the OpenID provider are the only hosts it talks to. The token lives in memory and in
// sessionStorage (this tab only), never in localStorage or cookies.

const $ = (id) => document.getElementById(id);
const STORE = "keyward.portal";
const state = { config: null, token: null, email: null, busy: false };

// ---------- small helpers ----------

function show(id, on = true) {
  $(id).hidden = !on;
}

function say(text) {
  $("status").textContent = text || "";
}

function fail(text) {
  $("error").textContent = text || "";
  show("error", Boolean(text));
}

function b64url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function random(n = 32) {
  return b64url(crypto.getRandomValues(new Uint8Array(n)));
}

function claims(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(decodeURIComponent(escape(atob(part))));
  } catch {
    return null;
  }
}

function date(iso) {
  if (!iso) return "never";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

function saveSession(value) {
  if (value) sessionStorage.setItem(STORE, JSON.stringify(value));
  else sessionStorage.removeItem(STORE);
}

function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE) || "null");
  } catch {
    return null;
  }
}

// ---------- the API ----------

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = {};
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(`${state.config.api}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch {
    throw new ApiError(0, "The portal could not reach the server. Check your connection and try again.");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data.detail || data.title || `error ${response.status}`);
  return data;
}

function explain(error, consumer) {
  if (error.status === 401) return null; // handled: back to sign-in
  if (error.status === 404 && consumer) {
    return `The consumer ${consumer} is no longer managed by ${state.email}, or no longer exists.`;
  }
  return error.message;
}

// ---------- sign-in ----------

async function discovery() {
  const issuer = state.config.issuer.replace(/\/+$/, "");
  const r = await fetch(`${issuer}/.well-known/openid-configuration`);
  if (!r.ok) throw new Error("the sign-in provider did not answer");
  return r.json();
}

async function startSignIn() {
  const doc = await discovery();
  const verifier = random(48);
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
  const pending = { verifier, state: random(), nonce: random() };
  sessionStorage.setItem(`${STORE}.pending`, JSON.stringify(pending));
  const url = new URL(doc.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: state.config.clientId,
    redirect_uri: redirectUri(),
    scope: state.config.scope,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: pending.state,
    nonce: pending.nonce,
  });
  location.assign(url.toString());
}

// The page's own address, as registered at the provider: `…/portal/`, also when it was
// opened as `…/portal/index.html`.
function redirectUri() {
  return `${location.origin}${location.pathname.replace(/index\.html$/, "")}`;
}

// The provider's error codes (RFC 6749, OpenID Connect), in words; its free-text
// error_description is not shown: anyone can put text in a link.
const PROVIDER_ERRORS = {
  access_denied: "access was denied at the sign-in provider",
  login_required: "the sign-in provider needs you to sign in",
  consent_required: "the sign-in provider needs your consent",
  interaction_required: "the sign-in provider needs you to sign in",
  temporarily_unavailable: "the sign-in provider is unavailable; try again in a moment",
  server_error: "the sign-in provider had an error; try again in a moment",
};

async function finishSignIn(params) {
  const pending = JSON.parse(sessionStorage.getItem(`${STORE}.pending`) || "null");
  sessionStorage.removeItem(`${STORE}.pending`);
  history.replaceState(null, "", redirectUri());
  // The state first: an answer this tab did not ask for is not shown, whatever it says.
  if (!pending || params.get("state") !== pending.state) throw new Error("the sign-in answer did not match this tab (state); please sign in again");
  const error = params.get("error");
  if (error) throw new Error(PROVIDER_ERRORS[error] || `the sign-in provider refused it (${/^[a-z_]{1,40}$/.test(error) ? error : "unknown error"})`);
  const doc = await discovery();
  const r = await fetch(doc.token_endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: params.get("code") || "",
      redirect_uri: redirectUri(),
      client_id: state.config.clientId,
      code_verifier: pending.verifier,
    }),
  });
  const tokens = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(`the sign-in provider refused the sign-in (${tokens.error || r.status})`);
  const idClaims = claims(tokens.id_token || "");
  if (!idClaims || idClaims.nonce !== pending.nonce) throw new Error("the sign-in answer did not match this tab (nonce); please sign in again");
  const token = state.config.tokenKind === "access" ? tokens.access_token : tokens.id_token;
  return token;
}

// Signing out forgets the token, then ends the session where it was made: the provider's
// (RP-initiated logout, when its discovery document has an end_session_endpoint) or
// Cloudflare Access's. Otherwise the next "Sign in" would come straight back as the same
// person, without a chance to sign in as someone else.
async function signOut() {
  const oidc = Boolean(loadSession()?.oidc);
  signIn("You signed out.");
  if (state.config.access) {
    location.assign("/cdn-cgi/access/logout"); // Access shows its own signed-out page
    return;
  }
  if (!oidc || !state.config.issuer) return;
  try {
    const doc = await discovery();
    if (!doc.end_session_endpoint) return;
    const url = new URL(doc.end_session_endpoint);
    // No id_token_hint: the ID token is a sign-in token here, and an address ends up in
    // history and the provider's logs. client_id names the application instead.
    url.search = new URLSearchParams({
      client_id: state.config.clientId,
      post_logout_redirect_uri: redirectUri(),
    });
    sessionStorage.setItem(`${STORE}.signed-out`, String(Date.now()));
    location.assign(url.toString());
  } catch {
    // The provider is unreachable: the portal has forgotten the token all the same.
  }
}

function signIn(reason) {
  state.token = null;
  state.email = null;
  saveSession(null);
  show("who", false);
  show("consumers", false);
  show("sign-in", true);
  $("sign-in-reason").textContent = reason || "";
  show("sign-in-reason", Boolean(reason));
  const oidc = Boolean(state.config.issuer && state.config.clientId);
  show("sign-in-button", oidc);
  $("sign-in-unavailable").textContent = state.config.access
    ? "Your Cloudflare Access session has ended or does not reach this page. Reload the page to sign in again."
    : "This portal has no sign-in configured. Open it from the link your API provider gave you.";
  show("sign-in-unavailable", !oidc);
  say("");
}

// ---------- the list ----------

function cell(row, label, text, className) {
  const td = row.insertCell();
  if (label) td.dataset.label = label;
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

function render(consumers) {
  const list = $("list");
  list.replaceChildren();
  show("empty", consumers.length === 0);
  $("empty").textContent = `No consumer lists ${state.email} as a manager — ask your API provider.`;
  for (const c of consumers) {
    const node = $("consumer-template").content.firstElementChild.cloneNode(true);
    node.querySelector(".name").textContent = c.name;
    node.querySelector(".description").textContent = c.description || "";
    const plan = c.metadata && typeof c.metadata.plan === "string" ? `Plan: ${c.metadata.plan}` : "";
    node.querySelector(".plan").textContent = plan;
    node.querySelector(".create").setAttribute("aria-label", `Create key for ${c.name}`);
    node.querySelector(".roll").setAttribute("aria-label", `Roll keys of ${c.name}`);
    node.querySelector(".create").addEventListener("click", (e) => createKey(c, e.currentTarget));
    node.querySelector(".roll").addEventListener("click", (e) => rollKeys(c, e.currentTarget));
    const body = node.querySelector("tbody");
    for (const k of c.apiKeys.data) {
      const row = body.insertRow();
      const keyCell = cell(row, "Key", k.key, "key");
      if (k.leakedOn) {
        // Reported found in public (keyward scan, GitHub): roll or delete it.
        const leak = document.createElement("strong");
        leak.className = "leaked";
        leak.textContent = `leaked ${date(k.leakedOn)}`;
        keyCell.append(leak);
      }
      cell(row, "Description", k.description || "");
      cell(row, "Created", date(k.createdOn));
      const expired = Boolean(k.expiresOn) && new Date(k.expiresOn).getTime() <= Date.now();
      cell(row, "Expires", expired ? `expired ${date(k.expiresOn)}` : date(k.expiresOn), expired ? "expired" : "");
      cell(row, "Created by", k.createdBy || "your API provider");
      const actions = row.insertCell();
      const wrap = document.createElement("div");
      wrap.className = "row-actions";
      const edit = document.createElement("button");
      edit.type = "button";
      edit.textContent = "Edit";
      edit.setAttribute("aria-label", `Edit the description of key ${k.key}`);
      edit.addEventListener("click", (e) => describeKey(c, k, e.currentTarget));
      const del = document.createElement("button");
      del.type = "button";
      del.textContent = "Delete";
      del.className = "danger";
      del.setAttribute("aria-label", `Delete key ${k.key}`);
      del.addEventListener("click", (e) => deleteKey(c, k, e.currentTarget));
      if (c.keysRetrievable) {
        // The bucket keeps keys retrievable: the key can be shown again.
        const reveal = document.createElement("button");
        reveal.type = "button";
        reveal.textContent = "Show";
        reveal.setAttribute("aria-label", `Show key ${k.key}`);
        reveal.addEventListener("click", (e) => revealKey(c, k, e.currentTarget));
        wrap.append(reveal);
      }
      wrap.append(edit, del);
      actions.append(wrap);
    }
    list.append(node);
  }
  show("consumers", true);
}

async function refresh() {
  say("Loading…");
  fail("");
  try {
    const me = await api("GET", "");
    state.email = me.email;
    $("who-email").textContent = me.email;
    show("who", true);
    show("sign-in", false);
    const { data } = await api("GET", "/consumers");
    render(data);
    say("");
  } catch (e) {
    if (e.status === 401) return signIn("Your sign-in has expired or is not valid here. Please sign in again.");
    say("");
    fail(explain(e));
  }
}

// ---------- dialogs ----------

// Focus back on the control that opened a dialog, or on its successor when the list was
// drawn again meanwhile (same label).
function refocus(opener) {
  if (!opener) return;
  if (opener.isConnected) return opener.focus();
  const label = opener.getAttribute("aria-label");
  if (label) document.querySelector(`[aria-label="${CSS.escape(label)}"]`)?.focus();
}

function ask(dialog, opener) {
  return new Promise((resolve) => {
    const d = $(dialog);
    d.addEventListener(
      "close",
      () => {
        resolve(d.returnValue === "ok" || d.returnValue === "done");
        refocus(opener);
      },
      { once: true },
    );
    d.returnValue = "";
    d.showModal();
  });
}

// Runs one change at a time: the list's buttons are disabled meanwhile, so a second click
// cannot send a second create or roll.
function busy(on) {
  state.busy = on;
  $("list").setAttribute("aria-busy", String(on));
  for (const b of $("list").querySelectorAll("button")) b.disabled = on;
}

async function act(work, consumer) {
  if (state.busy) return;
  busy(true);
  say("Working…");
  fail("");
  try {
    await work();
    await refresh();
  } catch (e) {
    if (e.status === 401) signIn("Your sign-in has expired or is not valid here. Please sign in again.");
    else {
      // The change may have happened though its answer was lost: show what is true now.
      if (e.status === 0) await refresh().catch(() => {});
      say("");
      fail(explain(e, consumer));
    }
  } finally {
    busy(false);
  }
}

// The key dialog: a new key (shown once, unless the bucket keeps keys retrievable) or an
// existing key shown again.
async function showNewKey(key, opener, c, existing = false) {
  $("key-title").textContent = existing ? `Key of ${c.name}` : "Your new key";
  const note = $("key-note");
  if (c && c.keysRetrievable) {
    note.textContent = "Keep it somewhere safe: anyone who has it can call the API as this consumer. You can show it again here.";
  } else {
    const strong = document.createElement("strong");
    strong.textContent = "You will not see this key again.";
    note.replaceChildren(strong, " Copy it now and keep it somewhere safe.");
  }
  $("new-key").value = key;
  $("copied").textContent = "";
  const done = ask("key-dialog", opener);
  $("new-key").select();
  await done;
  // The key leaves the page with the dialog.
  $("new-key").value = "";
}

async function createKey(c, opener) {
  const form = $("create-form");
  form.reset();
  if (!(await ask("create-dialog", opener))) return;
  const body = {};
  const description = form.elements.description.value.trim();
  if (description) body.description = description;
  if (form.elements.expires.value) body.expiresOn = new Date(`${form.elements.expires.value}T23:59:59Z`).toISOString();
  let created;
  await act(async () => {
    created = await api("POST", `/consumers/${encodeURIComponent(c.name)}/keys`, body);
  }, c.name);
  if (created) await showNewKey(created.key, opener, c);
}

async function revealKey(c, k, opener) {
  let shown;
  await act(async () => {
    shown = await api("GET", `/consumers/${encodeURIComponent(c.name)}/keys/${encodeURIComponent(k.id)}?key-format=visible`);
  }, c.name);
  if (shown && shown.key && !shown.keyUnavailable) await showNewKey(shown.key, opener, c, true);
  else if (shown) fail(`This key cannot be shown: ${shown.keyUnavailable || "the server did not send it"}.`);
}

async function rollKeys(c, opener) {
  if (!(await ask("roll-dialog", opener))) return;
  const seconds = Number(document.querySelector('#roll-dialog input[name="grace"]:checked').value);
  const expiresOn = new Date(Date.now() + seconds * 1000).toISOString();
  let created;
  await act(async () => {
    created = await api("POST", `/consumers/${encodeURIComponent(c.name)}/roll-key`, { expiresOn });
  }, c.name);
  if (created) await showNewKey(created.key, opener, c);
}

async function deleteKey(c, k, opener) {
  $("confirm-text").textContent = `Key ${k.key} of ${c.name} stops working at once.`;
  if (!(await ask("confirm-dialog", opener))) return;
  await act(() => api("DELETE", `/consumers/${encodeURIComponent(c.name)}/keys/${encodeURIComponent(k.id)}`), c.name);
}

async function describeKey(c, k, opener) {
  const input = $("describe-dialog").querySelector('input[name="description"]');
  input.value = k.description || "";
  if (!(await ask("describe-dialog", opener))) return;
  const description = input.value.trim() || null;
  await act(
    () => api("PATCH", `/consumers/${encodeURIComponent(c.name)}/keys/${encodeURIComponent(k.id)}`, { description }),
    c.name,
  );
}

// ---------- start ----------

// A sign-out at the provider that came back within 10 minutes; older marks (the provider
// never sent the browser back) are dropped.
function backFromSignOut() {
  const at = Number(sessionStorage.getItem(`${STORE}.signed-out`));
  sessionStorage.removeItem(`${STORE}.signed-out`);
  return at > 0 && Date.now() - at < 10 * 60 * 1000;
}

async function start() {
  try {
    const r = await fetch(new URL("config.json", location.href));
    if (!r.ok) throw new Error(String(r.status));
    state.config = await r.json();
  } catch {
    fail("The portal could not load its settings from the server. Reload the page; if it persists, tell your API provider.");
    return;
  }
  $("sign-in-button").addEventListener("click", () => {
    say("Contacting the sign-in provider…");
    startSignIn().catch((e) => signIn(`Sign-in could not start: ${e.message}.`));
  });
  $("sign-out").addEventListener("click", signOut);
  $("copy-key").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("new-key").value);
      $("copied").textContent = "Copied.";
    } catch {
      $("new-key").select();
      $("copied").textContent = "Select the key and copy it (Ctrl+C / ⌘C).";
    }
  });

  const fragment = new URLSearchParams(location.hash.slice(1));
  const params = new URLSearchParams(location.search);
  const saved = loadSession();
  let oidc = false;
  if (fragment.get("token")) {
    // 1. A token in the fragment, from the customer's own product: taken, then removed.
    sessionStorage.removeItem(`${STORE}.signed-out`);
    const token = fragment.get("token");
    history.replaceState(null, "", redirectUri());
    const linked = claims(token);
    if (linked?.exp && linked.exp * 1000 <= Date.now()) return signIn("The sign-in link has expired. Please sign in again.");
    // A link must not swap the person signed in here for someone else unasked.
    const current = saved?.token ? claims(saved.token)?.email : null;
    if (current && linked?.email && current !== linked.email && !confirm(`Continue as ${linked.email} instead of ${current}?`)) {
      state.token = saved.token;
      oidc = Boolean(saved.oidc);
    } else {
      state.token = token;
    }
  } else if (params.get("code") || params.get("error")) {
    // 2. Back from the OpenID provider.
    sessionStorage.removeItem(`${STORE}.signed-out`);
    try {
      state.token = await finishSignIn(params);
      oidc = true;
    } catch (e) {
      return signIn(`Sign-in did not complete: ${e.message}.`);
    }
  } else if (backFromSignOut()) {
    history.replaceState(null, "", redirectUri());
    return signIn("You signed out.");
  } else {
    // 3. This tab's earlier sign-in, or 4. Cloudflare Access (its cookie goes with every call).
    state.token = saved?.token || null;
    oidc = Boolean(saved?.oidc);
    if (!state.token && !state.config.access) return signIn("");
  }
  if (state.token) saveSession({ token: state.token, oidc });
  await refresh();
}

start();
