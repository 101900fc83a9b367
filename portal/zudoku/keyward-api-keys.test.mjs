// Runs keyward-api-keys.js against a real Worker: `node --test` with KEYWARD_ENDPOINT (the API
// prefix URL), KEYWARD_ME_TOKEN (a manager's sign-in token), KEYWARD_CONSUMER (a consumer that
// person manages; `gamma` must be one they do not) and KEYWARD_GATEWAY (the Worker's origin).
// tests/tests/selfserve.rs starts the Worker, seeds it and runs this file.
import assert from "node:assert/strict";
import { test } from "node:test";
import { keywardApiKeys } from "./keyward-api-keys.js";

const endpoint = process.env.KEYWARD_ENDPOINT;
const token = process.env.KEYWARD_ME_TOKEN;
const consumer = process.env.KEYWARD_CONSUMER;
const gateway = process.env.KEYWARD_GATEWAY;

const context = {
  async signRequest(request) {
    const signed = new Request(request);
    signed.headers.set("authorization", `Bearer ${token}`);
    return signed;
  },
};

async function gatewayStatus(key) {
  const r = await fetch(`${gateway}/orders`, { headers: { authorization: `Bearer ${key}` } });
  return r.status;
}

test("lists, creates, rolls, describes and deletes keys", async () => {
  assert.ok(endpoint && token && consumer && gateway, "KEYWARD_* variables are set");
  const service = keywardApiKeys({ endpoint, consumer });

  const before = await service.getConsumers(context);
  const mine = before.find((c) => c.id === consumer);
  assert.ok(mine, `${consumer} is listed`);
  const keysBefore = mine.apiKeys.length;
  assert.ok(mine.apiKeys.every((k) => k.key.includes("*")), "keys are masked");

  await service.createKey({ apiKey: { description: "from zudoku" }, context });
  let now = (await service.getConsumers(context)).find((c) => c.id === consumer);
  assert.equal(now.apiKeys.length, keysBefore + 1);
  const created = now.apiKeys.find((k) => k.description === "from zudoku");
  assert.ok(created, "the new key is listed with its description");
  assert.ok(!created.key.includes("*"), "the new key is shown in full until the page reloads");
  assert.equal(await gatewayStatus(created.key), 200, "and it works at the gateway");

  await service.updateKeyDescription({ id: created.id, description: "renamed" }, context);
  now = (await service.getConsumers(context)).find((c) => c.id === consumer);
  assert.ok(now.apiKeys.some((k) => k.id === created.id && k.description === "renamed"));

  await service.rollKey(consumer, context);
  now = (await service.getConsumers(context)).find((c) => c.id === consumer);
  assert.equal(now.apiKeys.length, keysBefore + 2, "a roll adds a key");
  const rolled = now.apiKeys.at(-1);
  assert.equal(await gatewayStatus(rolled.key), 200, "the rolled-in key is shown and works");
  assert.ok(
    now.apiKeys.filter((k) => k.id !== now.apiKeys.at(-1).id).every((k) => k.expiresOn),
    "the other keys now expire",
  );

  await service.deleteKey(consumer, created.id, context);
  now = (await service.getConsumers(context)).find((c) => c.id === consumer);
  assert.ok(!now.apiKeys.some((k) => k.id === created.id), "the deleted key is gone");
  assert.equal(await gatewayStatus("kw_not_a_key"), 401);
});

test("a consumer the person does not manage is refused", async () => {
  const service = keywardApiKeys({ endpoint, consumer: "gamma" });
  await assert.rejects(service.createKey({ apiKey: { description: "x" }, context }), (e) => e.status === 404);
  await assert.rejects(service.rollKey("gamma", context), (e) => e.status === 404);
});

test("a bad token is refused", async () => {
  const service = keywardApiKeys({ endpoint });
  const anonymous = { signRequest: async (r) => r };
  await assert.rejects(service.getConsumers(anonymous), (e) => e.status === 401);
});
