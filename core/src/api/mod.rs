//! The developer API: routing, authentication and the handlers, independent of any runtime.
//!
//! Paths follow Zuplo's developer API below the Worker's prefix, so that a Zuplo client only
//! changes its base URL:
//!
//! ```text
//! GET  /health
//! POST /v1/verify
//! /v1/accounts/{account}/key-buckets[/{bucket}[/consumers[/{consumer}[/keys[/{id}]]]]]
//! ```
//!
//! Every error leaves through [`crate::problem`], as `application/problem+json`.

mod buckets;
mod consumers;
mod keys;
mod query;

pub use query::Query;

use crate::cache::VerifyCache;
use crate::config::Config;
use crate::entropy::Entropy;
use crate::error::{Error, ErrorKind};
use crate::http::{ApiRequest, ApiResponse, MAX_BODY_BYTES};
use crate::key_hash::KeyHasher;
use crate::model::VerifyRequest;
use crate::problem;
use crate::store::Store;
use crate::timestamp::{self, Millis};
use crate::token::{self, Tokens};
use crate::verify::{Verdict, Verifier};
use serde::de::DeserializeOwned;

/// Everything a developer-API request needs, borrowed from the adapter for one request.
pub struct Api<'a, S> {
    /// Storage.
    pub store: &'a S,
    /// Random bytes for keys and ids.
    pub entropy: &'a dyn Entropy,
    /// Hashes keys.
    pub hasher: &'a KeyHasher,
    /// This isolate's verification cache (entries are dropped on delete/roll).
    pub cache: &'a VerifyCache,
    /// Settings.
    pub config: &'a Config,
    /// Management tokens.
    pub tokens: &'a Tokens,
    /// The time of the request.
    pub now: Millis,
}

/// Splits a path into percent-decoded segments.
fn segments(path: &str) -> Vec<String> {
    path.trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// Parses a JSON body strictly into `T`; a bad body is a 400 that says what is wrong.
pub(crate) fn body<T: DeserializeOwned>(req: &ApiRequest) -> Result<T, Error> {
    if req.body.len() > MAX_BODY_BYTES {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!("request body is over {MAX_BODY_BYTES} bytes"),
        ));
    }
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid(
            "request body is empty; send a JSON document",
        ));
    }
    // Derived Deserialize also accepts an array of fields in order; bodies must be objects.
    if req.body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::invalid("request body must be a JSON object"));
    }
    serde_json::from_slice(&req.body).map_err(|e| Error::invalid(format!("request body: {e}")))
}

fn method_not_allowed() -> Error {
    Error::new(
        ErrorKind::MethodNotAllowed,
        "method not allowed on this path",
    )
}

fn not_found() -> Error {
    Error::not_found("no such route; see /openapi.json")
}

impl<S: Store> Api<'_, S> {
    /// Answers one request to keyward's own routes (prefix already removed).
    pub async fn handle(&self, req: &ApiRequest) -> ApiResponse {
        match self.route(req).await {
            Ok(r) => r,
            Err(e) => problem::from_error(&e),
        }
    }

    fn authorize(&self, req: &ApiRequest) -> Result<(), Error> {
        match token::bearer(req.authorization.as_deref()) {
            Some(t) if self.tokens.accepts(t) => Ok(()),
            _ => Err(Error::new(
                ErrorKind::Unauthorized,
                "a valid management token is required: Authorization: Bearer <token>",
            )),
        }
    }

    async fn route(&self, req: &ApiRequest) -> Result<ApiResponse, Error> {
        let segs = segments(&req.path);
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let m = req.method.as_str();
        match segs.as_slice() {
            ["health"] => match m {
                "GET" | "HEAD" => Ok(ApiResponse::json(200, &serde_json::json!({"status": "ok"}))),
                _ => Err(method_not_allowed()),
            },
            ["v1", rest @ ..] => {
                self.authorize(req)?;
                match rest {
                    ["verify"] => match m {
                        "POST" => self.verify(req).await,
                        _ => Err(method_not_allowed()),
                    },
                    ["accounts", account, "key-buckets", rest @ ..] => {
                        if *account != self.config.account_name {
                            return Err(Error::not_found(format!(
                                "account '{account}' does not exist"
                            )));
                        }
                        self.buckets_route(req, rest).await
                    }
                    _ => Err(not_found()),
                }
            }
            _ => Err(not_found()),
        }
    }

    async fn buckets_route(&self, req: &ApiRequest, rest: &[&str]) -> Result<ApiResponse, Error> {
        let q = Query::parse(&req.query)?;
        let m = req.method.as_str();
        match rest {
            [] => match m {
                "GET" => self.list_buckets(&q).await,
                "POST" => self.create_bucket(req).await,
                _ => Err(method_not_allowed()),
            },
            [b] => match m {
                "GET" => self.get_bucket(b).await,
                _ => Err(method_not_allowed()),
            },
            [b, "consumers"] => match m {
                "GET" => self.list_consumers(b, &q).await,
                "POST" => self.create_consumer(b, req, &q).await,
                _ => Err(method_not_allowed()),
            },
            [b, "consumers", c] => match m {
                "GET" => self.get_consumer(b, c, &q).await,
                "DELETE" => self.delete_consumer(b, c, &q).await,
                _ => Err(method_not_allowed()),
            },
            [b, "consumers", c, "keys"] => match m {
                "GET" => self.list_keys(b, c, &q).await,
                "POST" => self.create_key(b, c, req, &q).await,
                _ => Err(method_not_allowed()),
            },
            [b, "consumers", c, "keys", id] => match m {
                "GET" => self.get_key(b, c, id, &q).await,
                "DELETE" => self.delete_key(b, c, id, &q).await,
                _ => Err(method_not_allowed()),
            },
            _ => Err(not_found()),
        }
    }

    async fn verify(&self, req: &ApiRequest) -> Result<ApiResponse, Error> {
        let body: VerifyRequest = body(req)?;
        let bucket = body.bucket.as_deref().unwrap_or(&self.config.bucket);
        crate::validate::bucket_name(bucket)?;
        let verifier = Verifier {
            store: self.store,
            hasher: self.hasher,
            cache: self.cache,
            bucket,
            prefix: &self.config.key_prefix,
        };
        let verdict = verifier.verify(&body.key, self.now).await?;
        let record = match &verdict {
            Verdict::Valid(r) | Verdict::Expired(r) => Some(r),
            _ => None,
        };
        Ok(ApiResponse::json(
            200,
            &serde_json::json!({
                "valid": matches!(verdict, Verdict::Valid(_)),
                "code": verdict.code(),
                "consumer": record.map(|r| &r.consumer),
                "keyId": record.map(|r| &r.key_id),
                "metadata": record.map(|r| &r.metadata),
                "expiresOn": record.and_then(|r| r.expires_on).map(timestamp::format),
            }),
        ))
    }
}
