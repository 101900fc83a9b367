//! The OpenAPI document and the router agree: every declared operation is routed (a request
//! for it is never answered "no such route" or 405), and the document is well formed.

mod support;

use keyward_core::api::openapi;
use support::Harness;

#[test]
fn every_declared_operation_is_routed() {
    let h = Harness::new();
    for op in openapi::operations() {
        let path = op
            .path
            .replace("{accountName}", "local")
            .replace("{bucketName}", "default")
            .replace("{consumerName}", "acme")
            .replace("{keyId}", "key_x")
            .replace("{managerId}", "eusr_x");
        let method = op.method.to_ascii_uppercase();
        let r = h.call(&method, &path, "{}");
        let body = r.json_body();
        assert_ne!(r.status, 405, "{method} {path}: {body}");
        assert_ne!(
            body["detail"], "no such route; see /openapi.json",
            "{method} {path}"
        );
    }
}

#[test]
fn document_is_openapi_3_1_with_every_path() {
    let doc = openapi::document();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for op in openapi::operations() {
        assert!(
            paths[op.path][op.method].is_object(),
            "{} {}",
            op.method,
            op.path
        );
    }
    // Every $ref points at a component that exists.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &part[..part.find('"').unwrap()];
        assert!(schemas.contains_key(name), "dangling $ref {name}");
    }
}

/// The served document adds `/v1/me`, with its own security scheme, every operation routed
/// by the self-serve handlers, and every `$ref` resolving.
#[test]
fn the_self_serve_operations_are_declared_and_routed() {
    use keyward_core::config::Portal;
    use keyward_core::http::ApiRequest;
    use keyward_core::selfserve::jwt::Identity;
    let doc = keyward_core::selfserve::openapi::document();
    assert!(doc["components"]["securitySchemes"]["endUserToken"].is_object());
    let h = Harness::new();
    h.create_bucket("default");
    let who = Identity {
        email: "ops@acme.example".into(),
        issuer: None,
    };
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(rest) = path.strip_prefix("/v1/me") else {
            continue;
        };
        for (method, op) in item.as_object().unwrap() {
            assert_eq!(
                op["security"][0]["endUserToken"],
                serde_json::json!([]),
                "{path}"
            );
            let concrete = rest
                .replace("{consumerName}", "acme")
                .replace("{keyId}", "key_x");
            let segs: Vec<&str> = concrete.split('/').filter(|s| !s.is_empty()).collect();
            let req = ApiRequest {
                method: method.to_ascii_uppercase(),
                path: format!("/v1/me{concrete}"),
                body: b"{}".to_vec(),
                ..ApiRequest::default()
            };
            let r = pollster::block_on(h.api().handle_me(
                &req,
                &segs,
                "default",
                &who,
                &Portal::default(),
            ));
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            assert_ne!(r.status, 405, "{method} {path}: {body}");
            assert_ne!(
                body["detail"], "no such route; see /openapi.json",
                "{method} {path}"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 10);
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &part[..part.find('"').unwrap()];
        assert!(schemas.contains_key(name), "dangling $ref {name}");
    }
}

/// Every query parameter keyward reads is in the document; `tag` in OpenAPI's deepObject form
/// (`tag[k]=v`) on the consumer list and every operation on one consumer; `limit` has no
/// maximum, since a larger one is capped, not refused.
#[test]
fn every_query_parameter_keyward_reads_is_documented() {
    let doc = openapi::document();
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let query: Vec<&serde_json::Value> =
                params.iter().filter(|p| p["in"] == "query").collect();
            for p in &query {
                documented.insert(p["name"].as_str().unwrap().to_owned());
                if p["name"] == "limit" {
                    assert!(
                        p["schema"].get("maximum").is_none() || path.ends_with("$index"),
                        "{method} {path}"
                    );
                }
            }
            let on_a_consumer = path.contains("{consumerName}")
                || (path.ends_with("/consumers") && method == "get");
            if on_a_consumer {
                let tag = query
                    .iter()
                    .find(|p| p["name"] == "tag")
                    .unwrap_or_else(|| panic!("{method} {path}: no tag parameter"));
                assert_eq!(tag["style"], "deepObject", "{method} {path}");
                assert_eq!(tag["explode"], true, "{method} {path}");
                assert_eq!(tag["schema"]["type"], "object", "{method} {path}");
            }
        }
    }
    for name in keyward_core::api::Query::NAMES {
        assert!(
            documented.contains(*name),
            "query parameter {name} is not documented"
        );
    }
    let bulk = &doc["paths"]
        ["/v1/accounts/{accountName}/key-buckets/{bucketName}/consumers/{consumerName}/keys/$bulk"]
        ["post"]["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(
        bulk["required"],
        serde_json::json!(["data", "limit", "offset", "total"])
    );
}
