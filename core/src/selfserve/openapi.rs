//! The self-serve operations (`/v1/me`) in the OpenAPI document: added to the developer API's
//! ([`crate::api::openapi::document`]) with their own security scheme, `endUserToken` (a JWT
//! from the customer's identity provider), since a management token is refused there.

use crate::api::model::KeyOut;
use crate::selfserve::me::{KeyList, MeConsumerOut, MeCreateKey, MePatchKey, MeRollKey};
use schemars::generate::{Contract, SchemaSettings};
use serde_json::{json, Map, Value};

/// The whole document: the developer API and `/v1/me`.
pub fn document() -> Value {
    let mut doc = crate::api::openapi::document();
    let settings = |contract| {
        SchemaSettings::draft2020_12().with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
            s.contract = contract;
        })
    };
    let mut req = settings(Contract::Deserialize).into_generator();
    let mut res = settings(Contract::Serialize).into_generator();
    let problem = |status: u16| {
        json!({
            "description": crate::problem::title(status),
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        })
    };
    let ok = |schema: Value| json!({"description": "success", "content": {"application/json": {"schema": schema}}});
    let body = |schema: Value| json!({"required": false, "content": {"application/json": {"schema": schema}}});
    let param = |name: &str, description: &str| json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string"}});
    let op = |id: &str,
              summary: &str,
              params: Vec<Value>,
              request: Option<Value>,
              status: u16,
              response: Option<Value>,
              errors: &[u16]| {
        let mut o = Map::new();
        o.insert("operationId".into(), json!(id));
        o.insert("summary".into(), json!(summary));
        o.insert("tags".into(), json!(["self-serve"]));
        o.insert("security".into(), json!([{"endUserToken": []}]));
        if !params.is_empty() {
            o.insert("parameters".into(), Value::Array(params));
        }
        if let Some(b) = request {
            o.insert("requestBody".into(), b);
        }
        let mut responses = Map::new();
        responses.insert(
            status.to_string(),
            response.unwrap_or_else(|| json!({"description": "success, no body"})),
        );
        for e in errors {
            responses.insert(e.to_string(), problem(*e));
        }
        o.insert("responses".into(), Value::Object(responses));
        Value::Object(o)
    };
    let name = || param("consumerName", "a consumer the signed-in person manages");
    let key_id = || param("keyId", "key id");
    let key = res.subschema_for::<KeyOut>().to_value();
    let consumer = res.subschema_for::<MeConsumerOut>().to_value();
    let keys = res.subschema_for::<KeyList>().to_value();
    let me = json!({
        "type": "object",
        "required": ["email", "consumers"],
        "properties": {
            "email": {"type": "string"},
            "issuer": {"type": ["string", "null"]},
            "consumers": {"type": "integer", "description": "how many consumers list this e-mail as a manager"},
        },
    });
    let paths = [
        ("/v1/me", "get", op("me", "Who the token says you are, and how many consumers you manage", vec![], None, 200, Some(ok(me)), &[401])),
        ("/v1/me/consumers", "get", op("myConsumers", "The consumers whose managers include your e-mail, with their keys (masked)", vec![], None, 200, Some(ok(json!({"type": "object", "required": ["data"], "properties": {"data": {"type": "array", "items": consumer.clone()}}}))), &[401])),
        ("/v1/me/consumers/{consumerName}", "get", op("myConsumer", "One consumer you manage", vec![name()], None, 200, Some(ok(consumer)), &[401, 404])),
        ("/v1/me/consumers/{consumerName}", "patch", op("changeMyConsumer", "Refused: a consumer's name, description, metadata, tags and managers belong to the administrators", vec![name()], Some(body(json!({"type": "object"}))), 403, Some(problem(403)), &[401, 404, 415])),
        ("/v1/me/consumers/{consumerName}/keys", "get", op("myKeys", "The consumer's keys (masked)", vec![name()], None, 200, Some(ok(keys)), &[401, 404])),
        ("/v1/me/consumers/{consumerName}/keys", "post", op("createMyKey", "Create a key (its plaintext is in this answer only; createdBy records you)", vec![name()], Some(body(req.subschema_for::<MeCreateKey>().to_value())), 200, Some(ok(key.clone())), &[400, 401, 403, 404, 413, 415])),
        ("/v1/me/consumers/{consumerName}/roll-key", "post", op("rollMyKey", "New key; the others expire at expiresOn (default: PORTAL_ROLL_GRACE_SECONDS from now)", vec![name()], Some(body(req.subschema_for::<MeRollKey>().to_value())), 200, Some(ok(key.clone())), &[400, 401, 403, 404, 413, 415])),
        ("/v1/me/consumers/{consumerName}/keys/{keyId}", "get", op("myKey", "One key: masked, or in plaintext with key-format=visible where the bucket keeps keys retrievable (keysRetrievable)", vec![name(), key_id(), json!({"name": "key-format", "in": "query", "required": false, "description": "`visible`: the key in plaintext (retrievable buckets only; 400 where keys are kept hashed only)", "schema": {"type": "string", "enum": ["none", "masked", "visible"], "default": "masked"}})], None, 200, Some(ok(key.clone())), &[400, 401, 404])),
        ("/v1/me/consumers/{consumerName}/keys/{keyId}", "patch", op("describeMyKey", "Change a key's description", vec![name(), key_id()], Some(body(req.subschema_for::<MePatchKey>().to_value())), 200, Some(ok(key)), &[400, 401, 403, 404, 413, 415])),
        ("/v1/me/consumers/{consumerName}/keys/{keyId}", "delete", op("deleteMyKey", "Delete a key", vec![name(), key_id()], None, 204, None, &[401, 403, 404])),
    ];
    let mut definitions = req.take_definitions(true);
    definitions.extend(res.take_definitions(true));
    if let Some(components) = doc.get_mut("components").and_then(Value::as_object_mut) {
        if let Some(Value::Object(schemas)) = components.get_mut("schemas") {
            for (k, v) in definitions {
                schemas.entry(k).or_insert(v);
            }
        }
        if let Some(Value::Object(schemes)) = components.get_mut("securitySchemes") {
            schemes.insert(
                "endUserToken".into(),
                json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "a JWT from the customer's identity provider (PORTAL_JWT_SECRET, PORTAL_JWKS_URL or PORTAL_OIDC_ISSUER), or Cloudflare Access's Cf-Access-Jwt-Assertion; never a management token"}),
            );
        }
    }
    if let Some(Value::Object(all)) = doc.get_mut("paths") {
        for (path, method, operation) in paths {
            let entry = all.entry(path.to_owned()).or_insert_with(|| json!({}));
            if let Value::Object(m) = entry {
                m.insert(method.to_owned(), operation);
            }
        }
    }
    doc
}

/// The document as committed in `schemas/openapi.json` (pretty, trailing newline).
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}
