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
