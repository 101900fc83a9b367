//! The OpenAPI 3.1 description of the developer API, generated from the code.
//!
//! Schemas come from the wire types in [`crate::api::model`] (schemars, request bodies with the
//! deserialize contract, responses with the serialize contract); the operations are declared
//! in [`operations`], next to the router's own table, and a test checks that every declared
//! operation is routed. `keyward openapi` prints the document; `schemas/openapi.json` is the
//! committed copy the Worker serves, and a test fails when it is stale.

use crate::api::leaks::wire as leaks;
use crate::api::model;
use schemars::generate::{Contract, SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

/// Where a parameter sits.
#[derive(Debug, Clone, Copy)]
enum In {
    Path,
    Query,
}

/// One declared parameter.
#[derive(Clone)]
struct Param {
    name: &'static str,
    at: In,
    schema: Value,
    description: &'static str,
    /// Serialized as `name[key]=value` (`style: deepObject`, `explode: true`).
    deep_object: bool,
}

/// One operation of the developer API.
pub struct Operation {
    /// HTTP method, lower case.
    pub method: &'static str,
    /// Path template below the Worker's prefix, e.g. `/v1/accounts/{accountName}/key-buckets`.
    pub path: &'static str,
    id: &'static str,
    summary: &'static str,
    params: Vec<Param>,
    body: Option<Value>,
    /// Success status.
    pub status: u16,
    response: Option<Value>,
    errors: &'static [u16],
}

fn path_param(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        at: In::Path,
        schema: json!({"type": "string"}),
        description,
        deep_object: false,
    }
}

fn query(name: &'static str, schema: Value, description: &'static str) -> Param {
    Param {
        name,
        at: In::Query,
        schema,
        description,
        deep_object: false,
    }
}

/// `tag`: OpenAPI cannot name Zuplo's `tag.<key>` family of parameters, so the document
/// declares the `deepObject` form generated clients serialize (`tag[key]=value`), which keyward
/// reads exactly like `tag.key=value`.
fn tag(guard: bool) -> Param {
    Param {
        name: "tag",
        at: In::Query,
        schema: json!({"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 5}),
        description: if guard {
            "ownership guard: `tag[<key>]=<value>` (or Zuplo's `tag.<key>=<value>`, the same); a consumer whose tag differs is answered 404, as if it did not exist"
        } else {
            "filter: `tag[<key>]=<value>` (or Zuplo's `tag.<key>=<value>`, the same); only consumers with every tag given"
        },
        deep_object: true,
    }
}

fn paging() -> Vec<Param> {
    vec![
        query(
            "limit",
            json!({"type": "integer", "minimum": 1, "default": 1000}),
            "page size: at most 1000 items are answered, a larger limit is capped to 1000 (as Zuplo does)",
        ),
        query(
            "offset",
            json!({"type": "integer", "minimum": 0, "default": 0}),
            "items to skip",
        ),
    ]
}

fn key_format() -> Param {
    query(
        "key-format",
        json!({"type": "string", "enum": ["none", "masked", "visible"], "default": "masked"}),
        "how keys are shown; `visible` (the plaintext) only in a bucket with `isRetrievable: true` and for write tokens: 400 in a hash-only bucket, 403 for a read token",
    )
}

fn flag(name: &'static str, description: &'static str) -> Param {
    query(name, json!({"type": "boolean"}), description)
}

struct Schemas {
    requests: SchemaGenerator,
    responses: SchemaGenerator,
}

impl Schemas {
    fn new() -> Self {
        let settings = |contract| {
            SchemaSettings::draft2020_12().with(|s| {
                s.definitions_path = "/components/schemas".into();
                s.meta_schema = None;
                s.contract = contract;
            })
        };
        Schemas {
            requests: settings(Contract::Deserialize).into_generator(),
            responses: settings(Contract::Serialize).into_generator(),
        }
    }

    fn req<T: JsonSchema>(&mut self) -> Option<Value> {
        Some(self.requests.subschema_for::<T>().to_value())
    }

    fn res<T: JsonSchema>(&mut self) -> Option<Value> {
        Some(self.responses.subschema_for::<T>().to_value())
    }

    fn list<T: JsonSchema>(&mut self) -> Option<Value> {
        let item = self.responses.subschema_for::<T>().to_value();
        Some(json!({
            "type": "object",
            "required": ["data", "limit", "offset", "total"],
            "properties": {
                "data": {"type": "array", "items": item},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
                "total": {"type": "integer"},
                "cursor": {"type": "string", "description": "pass as `cursor` for the next page (consumer lists); absent on the last page"},
            },
        }))
    }
}

/// Every operation of the developer API, in path order.
pub fn operations() -> Vec<Operation> {
    operations_with(&mut Schemas::new())
}

fn operations_with(s: &mut Schemas) -> Vec<Operation> {
    let acct = || path_param("accountName", "the Worker's ACCOUNT_NAME");
    let bucket = || path_param("bucketName", "bucket name");
    let consumer = || path_param("consumerName", "consumer name");
    let ops = vec![
        Operation { method: "get", path: "/health", id: "health", summary: "Liveness check (no token)", params: vec![], body: None, status: 200, response: Some(json!({"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]})), errors: &[] },
        Operation { method: "post", path: "/v1/verify", id: "verifyKey", summary: "Verify a key and tell why it is not valid", params: vec![], body: s.req::<model::VerifyRequest>(), status: 200, response: s.res::<model::VerifyOut>(), errors: &[400, 401, 403] },
        Operation { method: "post", path: "/v1/keys/$lookup", id: "lookupKeys", summary: "Whose keys are these? Each key is hashed at once (never stored, logged or echoed: answers show it masked); keys not shaped like this deployment's are answered valid: false without a lookup; only buckets the token sees are searched", params: vec![], body: s.req::<leaks::LookupRequest>(), status: 200, response: s.res::<leaks::LookupOut>(), errors: &[400, 401, 403, 413, 503] },
        Operation { method: "post", path: "/v1/leaks", id: "reportLeaks", summary: "Report leaked keys: each found key gets leakedOn/leakedAt (the first report's are kept) and, with LEAK_POLICY=revoke or revoke: true, expires now. Takes GitHub's secret-scanning alerts unchanged, signed by GitHub instead of a token (LEAK_REPORT_PUBLIC_KEYS), and answers in its feedback format too (token_hash, token_type, label)", params: vec![], body: Some(json!({"type": "array", "minItems": 1, "maxItems": 1000, "items": s.req::<leaks::LeakReport>()})), status: 200, response: Some(json!({"type": "array", "items": s.res::<leaks::ReportItem>()})), errors: &[400, 401, 403, 413, 503] },
        Operation { method: "get", path: "/v1/info", id: "info", summary: "The account, bucket and key prefix of this Worker, and the token's access", params: vec![], body: None, status: 200, response: Some(json!({"type": "object"})), errors: &[401] },
        Operation { method: "get", path: "/v1/accounts/{accountName}/key-buckets", id: "listBuckets", summary: "List buckets", params: [vec![acct()], paging()].concat(), body: None, status: 200, response: s.list::<model::BucketOut>(), errors: &[400, 401, 403, 404] },
        Operation { method: "post", path: "/v1/accounts/{accountName}/key-buckets", id: "createBucket", summary: "Create a bucket", params: vec![acct()], body: s.req::<model::CreateBucket>(), status: 200, response: s.res::<model::BucketOut>(), errors: &[400, 401, 403, 404, 409, 413] },
        Operation { method: "get", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}", id: "getBucket", summary: "Get a bucket", params: vec![acct(), bucket()], body: None, status: 200, response: s.res::<model::BucketOut>(), errors: &[401, 403, 404] },
        Operation { method: "patch", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}", id: "updateBucket", summary: "Change a bucket's description or tags (its isRetrievable is fixed: 409)", params: vec![acct(), bucket()], body: s.req::<model::PatchBucket>(), status: 200, response: s.res::<model::BucketOut>(), errors: &[400, 401, 403, 404, 409, 413] },
        Operation { method: "delete", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}", id: "deleteBucket", summary: "Delete a bucket and everything in it (202: large bucket, call again until 204)", params: vec![acct(), bucket()], body: None, status: 204, response: None, errors: &[401, 403, 404] },
        Operation { method: "get", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/$check", id: "checkBucket", summary: "Compares the bucket's verification records in KV with its tables, one budget of KV operations per call", params: vec![acct(), bucket(), query("cursor", json!({"type": "string"}), "the `cursor` of the previous call")], body: None, status: 200, response: s.res::<model::CheckOut>(), errors: &[400, 401, 403, 404] },
        Operation { method: "post", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/$check", id: "repairBucket", summary: "Consistency check that also queues a repair of each problem from the bucket's tables", params: vec![acct(), bucket(), query("cursor", json!({"type": "string"}), "the `cursor` of the previous call")], body: None, status: 200, response: s.res::<model::CheckOut>(), errors: &[400, 401, 403, 404] },
        Operation { method: "get", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers", id: "listConsumers", summary: "List consumers, filtered by tags or manager e-mail", params: [vec![acct(), bucket()], paging(), vec![query("cursor", json!({"type": "string"}), "the `cursor` of the previous page (instead of offset)"), flag("include-api-keys", "include keys"), flag("include-managers", "include managers"), flag("include-manager-invites", "include `managerInvites`: always empty, keyward has no invitations (a manager added by e-mail is a manager at once)"), key_format(), query("manager-email", json!({"type": "string"}), "only consumers this e-mail manages"), tag(false)]].concat(), body: None, status: 200, response: s.list::<model::ConsumerOut>(), errors: &[400, 401, 403, 404] },
        Operation { method: "post", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers", id: "createConsumer", summary: "Create a consumer (with-api-key=true also creates a key, shown once)", params: vec![acct(), bucket(), flag("with-api-key", "create a key too")], body: s.req::<model::CreateConsumer>(), status: 200, response: s.res::<model::ConsumerOut>(), errors: &[400, 401, 403, 404, 409, 413] },
        Operation { method: "post", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers/$bulk", id: "bulkConsumers", summary: "Create, update and delete many consumers (what keyward sync uses)", params: vec![acct(), bucket()], body: s.req::<model::BulkConsumers>(), status: 200, response: s.res::<model::BulkOut>(), errors: &[400, 401, 403, 404, 413] },
        Operation { method: "get", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers/$index", id: "consumerIndex", summary: "One page of consumer names, digests and sources, by name (for plan)", params: vec![acct(), bucket(), query("cursor", json!({"type": "string"}), "from the previous page"), query("limit", json!({"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000}), "page size")], body: None, status: 200, response: s.res::<model::IndexPageOut>(), errors: &[400, 401, 403, 404] },
        Operation { method: "get", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers/{consumerName}", id: "getConsumer", summary: "Get a consumer", params: vec![acct(), bucket(), consumer(), flag("include-api-keys", "include keys"), flag("include-managers", "include managers"), flag("include-manager-invites", "include `managerInvites`: always empty, keyward has no invitations (a manager added by e-mail is a manager at once)"), key_format(), tag(true)], body: None, status: 200, response: s.res::<model::ConsumerOut>(), errors: &[400, 401, 403, 404] },
        Operation { method: "patch", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers/{consumerName}", id: "updateConsumer", summary: "Change description, tags or metadata (metadata reaches the edge at once)", params: vec![acct(), bucket(), consumer(), tag(true)], body: s.req::<model::PatchConsumer>(), status: 200, response: s.res::<model::ConsumerOut>(), errors: &[400, 401, 403, 404, 413] },
        Operation { method: "delete", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers/{consumerName}", id: "deleteConsumer", summary: "Delete a consumer and its keys", params: vec![acct(), bucket(), consumer(), tag(true)], body: None, status: 204, response: None, errors: &[400, 401, 403, 404] },
        Operation { method: "post", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers/{consumerName}/roll-key", id: "rollKey", summary: "New key; the others expire at expiresOn (204; Prefer: return=representation → 200 with the new key)", params: vec![acct(), bucket(), consumer(), tag(true)], body: s.req::<model::RollKey>(), status: 204, response: None, errors: &[400, 401, 403, 404, 413] },
        Operation { method: "get", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers/{consumerName}/usage", id: "getConsumerUsage", summary: "A consumer's requests per key and UTC day, and each key's lastUsedOn", params: vec![acct(), bucket(), consumer(), query("from", json!({"type": "string", "format": "date"}), "first day (UTC, YYYY-MM-DD); default: 29 days before `to`"), query("to", json!({"type": "string", "format": "date"}), "last day (UTC, YYYY-MM-DD); default: today; at most 400 days from `from`"), tag(true)], body: None, status: 200, response: s.res::<model::UsageOut>(), errors: &[400, 401, 403, 404] },
        Operation { method: "get", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers/{consumerName}/keys", id: "listKeys", summary: "List a consumer's keys", params: [vec![acct(), bucket(), consumer()], paging(), vec![key_format(), tag(true)]].concat(), body: None, status: 200, response: s.list::<model::KeyOut>(), errors: &[400, 401, 403, 404] },
        Operation { method: "post", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers/{consumerName}/keys", id: "createKey", summary: "Create a key (its plaintext is in this answer only)", params: vec![acct(), bucket(), consumer(), tag(true)], body: s.req::<model::CreateKey>(), status: 200, response: s.res::<model::KeyOut>(), errors: &[400, 401, 403, 404, 409, 413] },
        Operation { method: "post", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers/{consumerName}/keys/$bulk", id: "bulkCreateKeys", summary: "Create several keys (answered in the list envelope, as Zuplo does; the plaintexts are in this answer only)", params: vec![acct(), bucket(), consumer(), tag(true)], body: Some(json!({"type": "array", "minItems": 1, "items": s.req::<model::CreateKey>()})), status: 200, response: s.list::<model::KeyOut>(), errors: &[400, 401, 403, 404, 409, 413] },
        Operation { method: "get", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers/{consumerName}/keys/{keyId}", id: "getKey", summary: "Get a key (masked)", params: vec![acct(), bucket(), consumer(), path_param("keyId", "key id"), key_format(), tag(true)], body: None, status: 200, response: s.res::<model::KeyOut>(), errors: &[400, 401, 403, 404] },
        Operation { method: "patch", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers/{consumerName}/keys/{keyId}", id: "updateKey", summary: "Change a key's description or expiry", params: vec![acct(), bucket(), consumer(), path_param("keyId", "key id"), key_format(), tag(true)], body: s.req::<model::PatchKey>(), status: 200, response: s.res::<model::KeyOut>(), errors: &[400, 401, 403, 404, 413] },
        Operation { method: "delete", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers/{consumerName}/keys/{keyId}", id: "deleteKey", summary: "Delete a key (rejected at once in this isolate, elsewhere within the cache TTL)", params: vec![acct(), bucket(), consumer(), path_param("keyId", "key id"), tag(true)], body: None, status: 204, response: None, errors: &[400, 401, 403, 404] },
        Operation { method: "get", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers/{consumerName}/managers", id: "listManagers", summary: "List a consumer's managers", params: [vec![acct(), bucket(), consumer()], paging(), vec![tag(true)]].concat(), body: None, status: 200, response: s.list::<model::ManagerOut>(), errors: &[400, 401, 403, 404] },
        Operation { method: "post", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers/{consumerName}/managers", id: "addManager", summary: "Add a manager", params: vec![acct(), bucket(), consumer(), tag(true)], body: s.req::<model::NewManager>(), status: 200, response: s.res::<model::ManagerOut>(), errors: &[400, 401, 403, 404, 409, 413] },
        Operation { method: "delete", path: "/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers/{consumerName}/managers/{managerId}", id: "deleteManager", summary: "Remove a manager", params: vec![acct(), bucket(), consumer(), path_param("managerId", "manager id"), tag(true)], body: None, status: 204, response: None, errors: &[400, 401, 403, 404] },
    ];
    ops
}

fn problem_schema() -> Value {
    json!({
        "type": "object",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
        },
    })
}

/// The whole document.
pub fn document() -> Value {
    let mut s = Schemas::new();
    let ops = operations_with(&mut s);
    let mut paths = Map::new();
    for op in &ops {
        let mut operation = Map::new();
        operation.insert("operationId".into(), json!(op.id));
        operation.insert("summary".into(), json!(op.summary));
        if op.path == "/health" {
            operation.insert("security".into(), json!([]));
        }
        if op.id == "reportLeaks" {
            operation.insert(
                "security".into(),
                json!([{"managementToken": []}, {"githubKeyIdentifier": [], "githubSignature": []}]),
            );
        }
        let params: Vec<Value> = op
            .params
            .iter()
            .map(|p| {
                let mut param = json!({
                    "name": p.name,
                    "in": match p.at { In::Path => "path", In::Query => "query" },
                    "required": matches!(p.at, In::Path),
                    "description": p.description,
                    "schema": p.schema,
                });
                if p.deep_object {
                    param["style"] = "deepObject".into();
                    param["explode"] = true.into();
                }
                param
            })
            .collect();
        if !params.is_empty() {
            operation.insert("parameters".into(), Value::Array(params));
        }
        if let Some(body) = &op.body {
            operation.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": body}}}),
            );
        }
        let mut responses = Map::new();
        let success = match &op.response {
            Some(schema) => {
                json!({"description": "success", "content": {"application/json": {"schema": schema}}})
            }
            None => json!({"description": "success, no body"}),
        };
        responses.insert(op.status.to_string(), success);
        if op.id == "rollKey" {
            responses.insert(
                "200".into(),
                json!({"description": "with Prefer: return=representation: the new key, shown only here", "content": {"application/json": {"schema": s.res::<model::KeyOut>()}}}),
            );
        }
        if op.id == "deleteBucket" {
            responses.insert("202".into(), json!({"description": "partly deleted: send DELETE again", "content": {"application/json": {"schema": {"type": "object"}}}}));
        }
        for status in op.errors {
            responses.insert(
                status.to_string(),
                json!({
                    "description": crate::problem::title(*status),
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                }),
            );
        }
        operation.insert("responses".into(), Value::Object(responses));
        let entry = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        if let Value::Object(m) = entry {
            m.insert(op.method.to_owned(), Value::Object(operation));
        }
    }
    let mut schemas = s.requests.take_definitions(true);
    schemas.extend(s.responses.take_definitions(true));
    schemas.insert("Problem".into(), problem_schema());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "keyward developer API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Buckets, consumers, API keys and managers, compatible with Zuplo's developer API (paths, bodies, status codes). Keys are stored hashed: a key's plaintext appears only in the response that creates it. Errors are RFC 9457 problem details. Tag filters: Zuplo's `tag.<key>=<value>` query parameters, a family OpenAPI cannot declare, are read exactly like the `tag` parameter declared here in OpenAPI's deepObject form (`tag[<key>]=<value>`, what generated clients send); both forms may be mixed, at most 5 in all, and a bare `tag=` is refused (400). They filter consumer lists and, on operations on one consumer, are an ownership guard: a consumer whose tag differs is answered 404. Absent optional strings (`description`, a manager's `sub`) are omitted, never null; `expiresOn` is null for a key that never expires. Request bodies may echo the read-only `id`, `createdOn` and `updatedOn` (ignored).",
        },
        "servers": [{"url": "http://127.0.0.1:8787/_keyward", "description": "make dev"}],
        "security": [{"managementToken": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "managementToken": {"type": "http", "scheme": "bearer"},
                "githubKeyIdentifier": {"type": "apiKey", "in": "header", "name": "Github-Public-Key-Identifier", "description": "POST /v1/leaks from GitHub's secret scanning: which key of LEAK_REPORT_PUBLIC_KEYS signed the body"},
                "githubSignature": {"type": "apiKey", "in": "header", "name": "Github-Public-Key-Signature", "description": "base64 of GitHub's DER ECDSA P-256/SHA-256 signature over the raw body"},
            },
        },
    })
}

/// The document as committed in `schemas/openapi.json` (pretty, trailing newline).
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}
