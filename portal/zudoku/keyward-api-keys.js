// keyward's self-serve API (/v1/me) as an ApiKeyService for Zudoku's `apiKeys` plugin option.
//
//   import { keywardApiKeys } from "./keyward-api-keys.js";
//   apiKeys: { enabled: true, ...keywardApiKeys({ endpoint: "https://api.example.com/_keyward" }) }
//
// Every request is signed with Zudoku's `context.signRequest` (the signed-in person's token,
// which the Worker verifies against PORTAL_JWT_SECRET, PORTAL_JWKS_URL or PORTAL_OIDC_ISSUER).
// Zudoku names consumers by `id`; here that id is the consumer's name, which /v1/me's paths use.
// No dependencies: plain fetch, so it also runs under Node (the tests run it there).

async function call(endpoint, context, method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const request = await context.signRequest(new Request(`${endpoint}/v1/me${path}`, init));
  const response = await fetch(request);
  if (!response.ok) {
    let detail = "";
    try {
      const problem = await response.json();
      detail = problem.detail || problem.title || "";
    } catch {
      // not a problem document
    }
    const error = new Error(
      `keyward: ${method} /v1/me${path} answered ${response.status}${detail ? `: ${detail}` : ""}`,
    );
    error.status = response.status;
    throw error;
  }
  return response.status === 204 ? undefined : response.json();
}

const enc = encodeURIComponent;

/**
 * An ApiKeyService over keyward's /v1/me.
 * @param {{ endpoint: string, consumer?: string }} options `endpoint`: the Worker's API prefix
 *   URL (e.g. https://api.example.com/_keyward); `consumer`: which consumer `createKey` adds a
 *   key to when the person manages several (default: the only one they manage).
 */
export function keywardApiKeys({ endpoint, consumer } = {}) {
  if (!endpoint) throw new Error("keywardApiKeys: `endpoint` is required");
  const base = endpoint.replace(/\/+$/, "");
  // keyward keeps only hashes: a new key's plaintext is in the answer that creates it and
  // nowhere else. Kept here (in this page's memory, never stored) so that Zudoku, which
  // re-reads the list after a create or roll, can show and copy it until the page reloads.
  const fresh = new Map();
  // Plain functions, not methods: Zudoku may call them detached from this object.
  const getConsumers = async (context) => {
    const { data } = await call(base, context, "GET", "/consumers");
    return data.map((c) => ({
      id: c.name,
      label: c.label,
      description: c.description ?? undefined,
      createdOn: c.createdOn,
      updatedOn: c.updatedOn,
      apiKeys: c.apiKeys.data.map((k) => ({
        id: k.id,
        key: fresh.get(k.id) ?? k.key,
        description: k.description ?? undefined,
        createdOn: k.createdOn,
        updatedOn: k.updatedOn,
        expiresOn: k.expiresOn ?? undefined,
      })),
    }));
  };
  return {
    getConsumers,

    async createKey({ apiKey, context }) {
      let target = consumer;
      if (!target) {
        const { data } = await call(base, context, "GET", "/consumers");
        if (data.length !== 1) {
          throw new Error(
            data.length === 0
              ? "keyward: no consumer lists you as a manager"
              : "keyward: you manage several consumers; set `consumer` in keywardApiKeys({ ... })",
          );
        }
        target = data[0].name;
      }
      const body = {};
      if (apiKey?.description) body.description = apiKey.description;
      if (apiKey?.expiresOn) body.expiresOn = apiKey.expiresOn;
      const created = await call(base, context, "POST", `/consumers/${enc(target)}/keys`, body);
      fresh.set(created.id, created.key);
    },

    async rollKey(consumerId, context) {
      const created = await call(base, context, "POST", `/consumers/${enc(consumerId)}/roll-key`, {});
      fresh.set(created.id, created.key);
    },

    async deleteKey(consumerId, keyId, context) {
      await call(base, context, "DELETE", `/consumers/${enc(consumerId)}/keys/${enc(keyId)}`);
    },

    async updateKeyDescription({ id, description }, context) {
      // Zudoku passes only the key id; find its consumer first.
      const consumers = await getConsumers(context);
      const owner = consumers.find((c) => c.apiKeys.some((k) => k.id === id));
      if (!owner) throw new Error(`keyward: key ${id} is not on a consumer you manage`);
      await call(base, context, "PATCH", `/consumers/${enc(owner.id)}/keys/${enc(id)}`, {
        description,
      });
    },
    // No updateConsumer: a consumer's label and everything else about it belong to the API's
    // administrators (keys.yaml); the Worker answers 403 to managers who try.
  };
}
