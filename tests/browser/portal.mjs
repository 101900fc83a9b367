// The portal page in a real browser (Debian's Chromium, driven by playwright-core) against the
// real Worker and a real OpenID provider (tests/browser/oidc-provider.mjs). Started by
// tests/tests/portal.rs, which runs the Worker, the provider and an upstream, seeds the
// consumers and passes what this script needs in the environment:
//
//   PORTAL_URL     the page, e.g. http://127.0.0.1:PORT/_keyward/portal/
//   GATEWAY_URL    a path behind the gateway, e.g. http://127.0.0.1:PORT/orders
//   ISSUER         the OpenID provider
//   EXPIRED_TOKEN  a token the Worker would accept but for its expiry
//   LINK_TOKEN     a token the Worker accepts, for alice (from `keyward portal-token`)
//   FORGED_TOKEN   a fresh token signed with another secret
//   ALICE_CONSUMERS  the two consumers alice@example.com manages, comma-separated
//   ARTIFACTS      where the screenshots go
//   CHROMIUM       the browser (default /usr/bin/chromium)
//
// Exits non-zero, with what went wrong, at the first failed expectation.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (tests/tests/portal.rs sets it)`);
  return v;
};
const PORTAL_URL = env("PORTAL_URL");
const GATEWAY_URL = env("GATEWAY_URL");
const ISSUER = env("ISSUER");
const EXPIRED_TOKEN = env("EXPIRED_TOKEN");
const LINK_TOKEN = env("LINK_TOKEN");
const FORGED_TOKEN = env("FORGED_TOKEN");
const ALICE_CONSUMERS = env("ALICE_CONSUMERS").split(",").sort();
const ARTIFACTS = env("ARTIFACTS");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
if (!existsSync(CHROMIUM)) {
  throw new Error(`${CHROMIUM} is missing: run \`make setup\` (it installs Debian's chromium)`);
}
mkdirSync(ARTIFACTS, { recursive: true });
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const WORKER = new URL(PORTAL_URL).origin;
const PROVIDER = new URL(ISSUER).origin;

const step = (text) => console.log(`- ${text}`);

async function gateway(key) {
  const r = await fetch(GATEWAY_URL, { headers: { authorization: `Bearer ${key}` } });
  await r.arrayBuffer();
  return r.status;
}

// Retries `check` for up to 10 s: the list updates after the API answers.
async function eventually(check, what) {
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > end) throw new Error(`${what}: ${e.message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  // This machine's network is closed: without these Chromium tries Google's hosts at start.
  args: [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

// Every request, with the page (frame) that made it, and every problem a page reports.
const requests = [];
const problems = [];
function watch(context) {
  context.on("request", (r) => {
    let from = "";
    try {
      from = r.frame().url();
    } catch {
      // a service worker's request has no frame; keyward registers none
    }
    requests.push({ url: r.url(), from });
  });
  context.on("page", (p) => {
    p.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    p.on("console", (m) => {
      if (/Content[- ]Security[- ]Policy/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
    });
  });
}

async function axe(page, what) {
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")) }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `accessibility (${what}): ${JSON.stringify(bad, null, 1)}`);
  step(`axe on ${what}: no serious or critical violation (${result.length} minor)`);
}

async function signInAtProvider(page, login) {
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => u.origin === PROVIDER);
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill("any password");
  await page.getByRole("button", { name: "Sign-in" }).click();
  // The provider asks for consent on a first sign-in, then sends the browser back.
  const back = page.waitForURL((u) => u.origin === WORKER).then(() => "back");
  const consent = page.getByRole("button", { name: "Continue" });
  if ((await Promise.race([back, consent.waitFor().then(() => "consent")])) === "consent") await consent.click();
  await back;
  await page.locator("#who-email").waitFor();
}

async function consumerNames(page) {
  await page.locator("#consumers").waitFor();
  return (await page.locator("article.consumer h2.name").allTextContents()).sort();
}

// The row of a key in a consumer's table, found by its masked form (the last 6 characters).
function keyRow(card, key) {
  return card.locator("tbody tr").filter({ has: card.page().locator("td.key", { hasText: key.slice(-6) }) });
}

async function readNewKey(page) {
  const dialog = page.locator("#key-dialog");
  await dialog.waitFor();
  // The bucket keeps keys retrievable, so the dialog says the key can be shown again.
  assert.match(await dialog.innerText(), /You can show it again here/);
  return page.locator("#new-key").inputValue();
}

let current = null; // the page in use, for a screenshot when a step fails
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: WORKER });
  watch(context);
  const page = await context.newPage();
  current = page;

  // ---- alice signs in through the provider's login form ----
  await page.goto(PORTAL_URL);
  await page.locator("#sign-in").waitFor();
  await signInAtProvider(page, "alice@example.com");
  assert.equal(new URL(page.url()).search, "", "the code and state are left in the address bar");
  assert.equal(await page.locator("#who-email").innerText(), "alice@example.com");
  assert.deepEqual(await consumerNames(page), ALICE_CONSUMERS);
  step(`alice signed in at the provider and sees exactly ${ALICE_CONSUMERS.join(" and ")}`);
  const planned = page.locator("article.consumer", { hasText: ALICE_CONSUMERS[0] });
  assert.equal(await planned.locator(".plan").innerText(), "Plan: gold");
  assert.match(await planned.locator("td.key").first().innerText(), /leaked /, "a leaked key is marked");
  await page.screenshot({ path: join(ARTIFACTS, "signed-in.png"), fullPage: true });
  await axe(page, "the signed-in list (light)");
  await page.emulateMedia({ colorScheme: "dark" });
  await axe(page, "the signed-in list (dark)");
  await page.screenshot({ path: join(ARTIFACTS, "signed-in-dark.png"), fullPage: true });
  await page.emulateMedia({ colorScheme: "light" });

  // ---- keyboard only: open and cancel a dialog, focus comes back ----
  const name = ALICE_CONSUMERS[1];
  const card = page.locator("article.consumer", { hasText: name });
  const create = card.getByRole("button", { name: `Create key for ${name}` });
  await create.focus();
  await page.keyboard.press("Enter");
  await page.locator("#create-dialog").waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.name), "description", "focus is in the dialog");
  await page.keyboard.press("Escape");
  await page.locator("#create-dialog").waitFor({ state: "hidden" });
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), `Create key for ${name}`);
  step("keyboard: Enter opens the create dialog with focus inside, Escape closes it, focus returns");

  // ---- create a key, copy it, call the gateway with it ----
  await create.click();
  await page.locator('#create-dialog input[name="description"]').fill("made in the browser test");
  await page.locator("#create-dialog").getByRole("button", { name: "Create" }).click();
  const created = await readNewKey(page);
  await page.screenshot({ path: join(ARTIFACTS, "new-key.png") });
  await axe(page, "the new-key dialog");
  await page.getByRole("button", { name: "Copy" }).click();
  await eventually(async () => assert.equal(await page.locator("#copied").innerText(), "Copied."), "copy");
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), created);
  await page.getByRole("button", { name: "Done" }).click();
  assert.equal(await gateway(created), 200, "the created key at the gateway");
  await eventually(async () => assert.equal(await keyRow(card, created).count(), 1), "the new key in the list");
  assert.match(await keyRow(card, created).innerText(), /made in the browser test[\s\S]*alice@example\.com/);
  step("created a key (copied), the gateway answers it 200, the list shows it as alice's");

  // ---- show an existing key again (the bucket keeps keys retrievable) ----
  await keyRow(card, created).getByRole("button", { name: /^Show key/ }).click();
  await page.locator("#key-dialog").waitFor();
  assert.equal(await page.locator("#key-title").innerText(), `Key of ${name}`);
  assert.equal(await page.locator("#new-key").inputValue(), created, "the key shown again");
  await axe(page, "the show-key dialog");
  await page.getByRole("button", { name: "Done" }).click();
  await page.locator("#key-dialog").waitFor({ state: "hidden" });
  step("showed the created key again: the same key, from the bucket's encrypted copy");

  // ---- roll with "now" ----
  await card.getByRole("button", { name: `Roll keys of ${name}` }).click();
  await page.locator("#roll-dialog").getByLabel("now").check();
  await page.locator("#roll-dialog").getByRole("button", { name: "Roll keys" }).click();
  const rolled = await readNewKey(page);
  await page.getByRole("button", { name: "Done" }).click();
  assert.notEqual(rolled, created);
  assert.equal(await gateway(created), 401, "the old key after rolling now");
  assert.equal(await gateway(rolled), 200, "the rolled key");
  await eventually(async () => assert.match(await keyRow(card, created).innerText(), /expired/), "the old key marked expired");
  step("rolled with now: the old key 401, the new key 200");

  // ---- delete the new key ----
  await eventually(async () => assert.equal(await keyRow(card, rolled).count(), 1), "the rolled key in the list");
  await keyRow(card, rolled).getByRole("button", { name: "Delete" }).click();
  assert.match(await page.locator("#confirm-text").innerText(), /stops working at once/);
  await page.locator("#confirm-dialog").getByRole("button", { name: "Delete" }).click();
  await eventually(async () => assert.equal(await keyRow(card, rolled).count(), 0), "the deleted key gone from the list");
  assert.equal(await gateway(rolled), 401, "the deleted key");
  step("deleted the rolled key: 401");

  // ---- edit a description; it is there after a reload ----
  const other = page.locator("article.consumer", { hasText: ALICE_CONSUMERS[0] });
  await other.getByRole("button", { name: /^Edit the description/ }).first().click();
  await page.locator('#describe-dialog input[name="description"]').fill("renamed by alice");
  await page.locator("#describe-dialog").getByRole("button", { name: "Save" }).click();
  await eventually(async () => assert.match(await other.innerText(), /renamed by alice/), "the new description");
  await page.reload();
  await page.locator("#who-email").waitFor();
  await eventually(
    async () => assert.match(await page.locator("article.consumer", { hasText: ALICE_CONSUMERS[0] }).innerText(), /renamed by alice/),
    "the description after a reload",
  );
  step("edited a description; it is there after a reload (still signed in, from this tab's session)");

  // ---- 375 px wide ----
  await page.setViewportSize({ width: 375, height: 800 });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 375, `the page is ${width} px wide at 375 px`);
  await page.screenshot({ path: join(ARTIFACTS, "narrow-375.png"), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  step(`at 375 px the page is ${width} px wide (no sideways scrolling)`);

  // ---- sign out (at the provider too), sign in as nobody@example.com ----
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL((u) => u.origin === PROVIDER);
  await page.getByRole("button", { name: "Yes, sign me out" }).click();
  await page.waitForURL((u) => u.origin === WORKER);
  await eventually(async () => assert.match(await page.locator("#sign-in-reason").innerText(), /You signed out/), "signed out");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("keyward.portal")), null, "the token is forgotten");
  await signInAtProvider(page, "nobody@example.com");
  await page.locator("#empty").waitFor();
  assert.equal(
    await page.locator("#empty").innerText(),
    "No consumer lists nobody@example.com as a manager — ask your API provider.",
  );
  assert.equal(await page.locator("article.consumer").count(), 0);
  await page.screenshot({ path: join(ARTIFACTS, "empty.png") });
  await axe(page, "the empty state");
  step("signed out at the provider, signed in as nobody@example.com: the empty state");

  // ---- sign-in links: valid, expired, forged; answers this tab did not ask for ----
  const fresh = await browser.newContext();
  watch(fresh);
  const late = await fresh.newPage();
  current = late;
  await late.goto(`${PORTAL_URL}#token=${LINK_TOKEN}`);
  await late.locator("#who-email").waitFor();
  assert.equal(new URL(late.url()).hash, "", "the token is left in the address bar");
  assert.deepEqual(await consumerNames(late), ALICE_CONSUMERS);
  step("a #token= link from portal-token signs alice in; the fragment is gone");

  await late.goto(`${PORTAL_URL}#token=${EXPIRED_TOKEN}`);
  await late.reload(); // a new fragment alone does not load the page again
  await late.locator("#sign-in").waitFor();
  assert.equal(await late.locator("#sign-in-reason").innerText(), "The sign-in link has expired. Please sign in again.");
  assert.equal(new URL(late.url()).hash, "", "the token is left in the address bar");
  assert.equal(await late.evaluate(() => sessionStorage.getItem("keyward.portal")), null, "an expired link signs the tab out");
  await axe(late, "the sign-in page");
  await late.screenshot({ path: join(ARTIFACTS, "expired.png") });
  step("an expired #token= link: the sign-in page says it expired, the fragment is gone");

  await late.goto(`${PORTAL_URL}#token=${FORGED_TOKEN}`);
  await late.reload();
  await eventually(
    async () => assert.equal(await late.locator("#sign-in-reason").innerText(), "Your sign-in has expired or is not valid here. Please sign in again."),
    "the Worker refused the forged token",
  );
  step("a forged #token= link: the Worker refuses it (401) and the page asks to sign in");

  await late.goto(`${PORTAL_URL}?error=access_denied&error_description=Call+0800+SCAM&state=not-this-tab`);
  await late.locator("#sign-in").waitFor();
  const refused = await late.locator("#sign-in-reason").innerText();
  assert.match(refused, /did not match this tab \(state\)/);
  assert.doesNotMatch(refused, /SCAM/);
  assert.equal(new URL(late.url()).search, "", "the answer is left in the address bar");
  await late.goto(`${PORTAL_URL}?code=stolen&state=not-this-tab`);
  await late.locator("#sign-in").waitFor();
  assert.match(await late.locator("#sign-in-reason").innerText(), /did not match this tab \(state\)/);
  step("answers this tab did not ask for (wrong state) are refused, their text not shown");

  // ---- nothing left for another host, no CSP violation, no script error ----
  const allowed = new Set([WORKER, PROVIDER]);
  const foreign = requests.filter((r) => {
    const to = new URL(r.url);
    if (to.protocol === "data:" || allowed.has(to.origin)) return false;
    // The provider's own pages (its login form's stylesheet) are the provider's business.
    return !r.from.startsWith(PROVIDER);
  });
  assert.deepEqual(foreign, [], "requests to other hosts");
  assert.ok(requests.some((r) => r.url.startsWith(`${PROVIDER}/token`)), "the page exchanged the code itself");
  assert.deepEqual(problems, []);
  step(`${requests.length} requests, none from the page to a host but the Worker and the provider; no CSP violation`);
  await fresh.close();
  await context.close();
} catch (e) {
  if (current) {
    const shot = join(ARTIFACTS, "failure.png");
    await current.screenshot({ path: shot, fullPage: true }).catch(() => {});
    const text = await current.locator("body").innerText().catch(() => "");
    console.error(`failed at ${current.url()} (screenshot: ${shot}); the page says:\n${text}`);
  }
  throw e;
} finally {
  await browser.close();
}
