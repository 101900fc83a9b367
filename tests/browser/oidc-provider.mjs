// A real OpenID provider for the portal's browser test: `oidc-provider` (npm) on 127.0.0.1,
// with its own login and consent pages and two people, alice@example.com (who manages two
// consumers in the test) and nobody@example.com (who manages none). Usage:
//
//   node tests/browser/oidc-provider.mjs CLIENT_ID
//
// Listens on a free port of 127.0.0.1 at once and prints `listening <issuer>`; then reads
// the client's redirect URI (the Worker's portal page, which needs the issuer to start) as
// one line from stdin and prints `ready`. Stops on SIGTERM or when stdin closes, so it
// never outlives the test that started it. Taking the port first leaves no window in which
// another process could take it.
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import Provider from "oidc-provider";

const [clientId] = process.argv.slice(2);
if (!clientId) {
  console.error("usage: oidc-provider.mjs CLIENT_ID");
  process.exit(2);
}

const server = createServer((_req, res) => {
  res.writeHead(503).end("not configured yet");
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
console.log(`listening ${issuer}`);
const lines = createInterface({ input: process.stdin });
const redirectUri = await new Promise((resolve) => lines.once("line", (l) => resolve(l.trim())));

const people = new Map(
  ["alice@example.com", "nobody@example.com"].map((email) => [email, { email, email_verified: true }]),
);

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      token_endpoint_auth_method: "none", // a public client: the page has no secret
      redirect_uris: [redirectUri],
      post_logout_redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
    },
  ],
  // Only the two people above can sign in; any other login is refused by the provider.
  async findAccount(_ctx, id) {
    const person = people.get(id);
    if (!person) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...person }) };
  },
  claims: { openid: ["sub"], email: ["email", "email_verified"] },
  // Like Auth0, Okta and Keycloak: the ID token of a code flow carries the scopes' claims.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["keyward-browser-test-cookie-key"] },
});
provider.on("server_error", (_ctx, err) => console.error("oidc-provider:", err));

server.removeAllListeners("request");
server.on("request", provider.callback());
console.log("ready");
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
lines.on("close", stop);
