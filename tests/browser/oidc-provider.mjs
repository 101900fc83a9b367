// A real OpenID provider for the portal's browser test: `oidc-provider` (npm) on 127.0.0.1,
// with its own login and consent pages and two people, alice@example.com (who manages two
// consumers in the test) and nobody@example.com (who manages none). Usage:
//
//   node tests/browser/oidc-provider.mjs PORT CLIENT_ID REDIRECT_URI
//
// Prints `ready <issuer>` once it listens; stops on SIGTERM or when stdin closes (so it
// never outlives the test that started it).
import Provider from "oidc-provider";

const [port, clientId, redirectUri] = process.argv.slice(2);
if (!port || !clientId || !redirectUri) {
  console.error("usage: oidc-provider.mjs PORT CLIENT_ID REDIRECT_URI");
  process.exit(2);
}

const people = new Map(
  ["alice@example.com", "nobody@example.com"].map((email) => [email, { email, email_verified: true }]),
);

const issuer = `http://127.0.0.1:${port}`;
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

const server = provider.listen(Number(port), "127.0.0.1", () => console.log(`ready ${issuer}`));
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.stdin.on("end", stop);
process.stdin.resume();
