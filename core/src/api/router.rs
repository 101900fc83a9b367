//! Routing and authentication: a request's path and token to one handler, and every error
//! through [`crate::problem`] as `application/problem+json`. The handlers are methods of
//! [`Api`] in the sibling modules, one per resource.

use super::query::Query;
use crate::api::model::{KeyFormat, VerifyOut, VerifyRequest};
use crate::api::token::{self, Grant, Tokens};
use crate::config::Config;
use crate::edge::verify::{Verdict, Verifier};
use crate::entropy::Entropy;
use crate::error::{Error, ErrorKind};
use crate::http::{ApiRequest, ApiResponse, MAX_BODY_BYTES};
use crate::key::hash::KeyHasher;
use crate::problem;
use crate::storage::bucket::sql::Sql;
use crate::storage::cache::VerifyCache;
use crate::storage::store::Store;
use crate::timestamp::{self, Millis};
use serde::de::DeserializeOwned;

/// Everything a developer-API request needs, borrowed from the adapter for one request.
///
/// `S` is KV (the edge's verification records); `Q` the SQL of the bucket's object the
/// request runs in ([`NoSql`](crate::storage::bucket::sql::NoSql) in the Worker's front,
/// which answers what needs no bucket and routes the rest to the objects).
pub struct Api<'a, S, Q> {
    /// KV: verification records.
    pub store: &'a S,
    /// The bucket's tables.
    pub sql: &'a Q,
    /// Random bytes for keys and ids.
    pub entropy: &'a dyn Entropy,
    /// Hashes keys.
    pub hasher: &'a KeyHasher,
    /// This isolate's verification cache (entries are dropped on every change).
    pub cache: &'a VerifyCache,
    /// Settings.
    pub config: &'a Config,
    /// Management tokens.
    pub tokens: &'a Tokens,
    /// The time of the request.
    pub now: Millis,
    /// The OpenAPI document served at `/openapi.json` (the adapter embeds the committed file).
    pub openapi: &'a str,
    /// Consumers' limits objects: usage, `lastUsedOn`, `/v1/verify`'s limits
    /// ([`NoCounters`](crate::limits::wire::NoCounters) where there are none).
    pub counters: &'a dyn crate::limits::wire::Counters,
}

/// Splits a path into percent-decoded segments.
pub(crate) fn segments(path: &str) -> Vec<String> {
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

/// Whether `path` (below the API prefix) is a `/v1` route, read as the router reads it.
pub fn is_v1(path: &str) -> bool {
    segments(path).first().map(String::as_str) == Some("v1")
}

pub(crate) fn check_size(req: &ApiRequest) -> Result<(), Error> {
    if req.body.len() > MAX_BODY_BYTES {
        return Err(crate::http::body_too_large());
    }
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid(
            "request body is empty; send a JSON document",
        ));
    }
    Ok(())
}

fn parse<T: DeserializeOwned>(req: &ApiRequest) -> Result<T, Error> {
    serde_json::from_slice(&req.body)
        .map_err(|e| Error::invalid(format!("request body: {}", unquoted(&e.to_string()))))
}

/// serde's message without the string value it quotes (`invalid type: string "…",
/// expected …`): that value may be a key sent in the wrong place.
fn unquoted(message: &str) -> String {
    let Some(start) = message.find("string \"") else {
        return message.to_owned();
    };
    match message.rfind("\", expected") {
        Some(end) if end >= start + 7 => {
            format!("{}string{}", &message[..start], &message[end + 1..])
        }
        _ => "a value is of the wrong type".to_owned(),
    }
}

fn first_byte(req: &ApiRequest) -> Option<u8> {
    req.body.iter().find(|b| !b.is_ascii_whitespace()).copied()
}

/// Parses a JSON object body strictly into `T`; a bad body is a 400 that says what is wrong.
pub(crate) fn body<T: DeserializeOwned>(req: &ApiRequest) -> Result<T, Error> {
    check_size(req)?;
    // Derived Deserialize also accepts an array of fields in order; bodies must be objects.
    if first_byte(req) != Some(b'{') {
        return Err(Error::invalid("request body must be a JSON object"));
    }
    parse(req)
}

/// Parses a JSON array body (the `$bulk` endpoints) strictly.
pub(crate) fn array_body<T: DeserializeOwned>(req: &ApiRequest) -> Result<Vec<T>, Error> {
    check_size(req)?;
    if first_byte(req) != Some(b'[') {
        return Err(Error::invalid("request body must be a JSON array"));
    }
    parse(req)
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

/// Where a developer-API request runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// In the Worker itself: health, the OpenAPI document, `/v1/verify`, `/v1/info`, and
    /// every answer that needs no bucket (401, 404 for paths that cannot name a bucket).
    Here,
    /// In the object of this bucket: everything under `key-buckets/{bucket}`, and creating it.
    Bucket(String),
    /// In the directory object, which lists the buckets (and answers a create whose body names
    /// no valid bucket: a 400 that changes nothing).
    Directory,
}

/// The bucket a `POST …/key-buckets` body names, when it names a valid one.
fn created_bucket(req: &ApiRequest) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        name: String,
    }
    let named: Named = serde_json::from_slice(&req.body).ok()?;
    crate::validate::bucket_name(&named.name).ok()?;
    Some(named.name)
}

fn is_write(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD")
}

impl<S: Store, Q: Sql> Api<'_, S, Q> {
    /// Answers one request to keyward's own routes (prefix already removed).
    pub async fn handle(&self, req: &ApiRequest) -> ApiResponse {
        self.handle_logged(req, |_| {}).await
    }

    /// Like [`Api::handle`], and hands every server-side error (5xx) to `log` before its
    /// generic problem answer is made: the detail goes to the log, never to the client.
    pub async fn handle_logged(&self, req: &ApiRequest, log: impl FnOnce(&Error)) -> ApiResponse {
        match self.route(req).await {
            Ok(r) => r,
            Err(e) => {
                if problem::status_of(e.kind()) >= 500 {
                    log(&e);
                }
                problem::from_error(&e)
            }
        }
    }

    /// Where `req` runs ([`Target`]). An object is only asked when the token may do what the
    /// request asks there (valid, of this account, scoped to the bucket, write access for a
    /// write): every other answer (401, 403, 404 for another account) is made here by
    /// [`Api::handle`], so no token can wake, create or bill an object it may not use.
    pub fn target(&self, req: &ApiRequest) -> Target {
        let segs = segments(&req.path);
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let (account, target) = match segs.as_slice() {
            ["v1", "accounts", a, "key-buckets"] if req.method == "POST" => (
                *a,
                created_bucket(req).map_or(Target::Directory, Target::Bucket),
            ),
            ["v1", "accounts", a, "key-buckets"] => (*a, Target::Directory),
            ["v1", "accounts", a, "key-buckets", b, ..]
                if crate::validate::bucket_name(b).is_ok() =>
            {
                (*a, Target::Bucket((*b).to_owned()))
            }
            _ => return Target::Here,
        };
        if account != self.config.account_name {
            return Target::Here;
        }
        let Ok(grant) = self.authenticate(req) else {
            return Target::Here;
        };
        let allowed = match &target {
            Target::Bucket(b) => grant.check(Some(b), is_write(&req.method)).is_ok(),
            _ => grant.check(None, is_write(&req.method)).is_ok(),
        };
        if allowed {
            target
        } else {
            Target::Here
        }
    }

    /// The answer to a request whose body cannot matter, made without it: a `/v1` route
    /// without a valid token (401), and every route outside `/v1` (health, the OpenAPI
    /// document, 404s), none of which reads a body. The adapter asks before reading the
    /// body, so only an authenticated `/v1` request makes the Worker read one.
    pub async fn answer_before_body(&self, req: &ApiRequest) -> Option<ApiResponse> {
        // A method no route has (QUERY, PROPFIND, …) goes no further: 405 before the token,
        // the body or any object is involved.
        if !crate::http::is_known_method(&req.method) {
            return Some(problem::from_error(&method_not_allowed()));
        }
        if !is_v1(&req.path) {
            return Some(self.handle(req).await);
        }
        self.authenticate(req)
            .err()
            .map(|e| problem::from_error(&e))
    }

    fn authenticate(&self, req: &ApiRequest) -> Result<&Grant, Error> {
        token::bearer(req.authorization.as_deref())
            .and_then(|t| self.tokens.authenticate(t))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Unauthorized,
                    "a valid management token is required: Authorization: Bearer <token>",
                )
            })
    }

    async fn route(&self, req: &ApiRequest) -> Result<ApiResponse, Error> {
        // The leak routes reach every bucket (`leaks`): here over this one database; the
        // Worker's front runs them itself, over the bucket objects.
        if let Some(answer) = self.leaks_in_one_database(req).await {
            return answer;
        }
        let segs = segments(&req.path);
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let m = req.method.as_str();
        match segs.as_slice() {
            ["health"] => match m {
                "GET" | "HEAD" => Ok(ApiResponse::json(200, &serde_json::json!({"status": "ok"}))),
                _ => Err(method_not_allowed()),
            },
            ["openapi.json"] => match m {
                "GET" | "HEAD" => Ok(ApiResponse {
                    status: 200,
                    headers: Vec::new(),
                    content_type: Some("application/json"),
                    body: self.openapi.as_bytes().to_vec(),
                }),
                _ => Err(method_not_allowed()),
            },
            ["v1", rest @ ..] => {
                let grant = self.authenticate(req)?;
                match rest {
                    ["verify"] => match m {
                        "POST" => self.verify(req, grant).await,
                        _ => Err(method_not_allowed()),
                    },
                    ["info"] => match m {
                        // The edge's bucket and key prefix only to a token that sees the bucket.
                        "GET" => Ok(ApiResponse::json(200, &{
                            let mut info = serde_json::json!({
                                "account": self.config.account_name,
                                "token": {
                                    "name": grant.name,
                                    "access": if grant.access == token::Access::Write { "write" } else { "read" },
                                },
                            });
                            if grant.sees(&self.config.bucket) {
                                info["bucket"] = self.config.bucket.clone().into();
                                info["keyPrefix"] = self.config.key_prefix.clone().into();
                            }
                            info
                        })),
                        _ => Err(method_not_allowed()),
                    },
                    ["accounts", account, "key-buckets", rest @ ..] => {
                        if *account != self.config.account_name {
                            return Err(Error::not_found(format!(
                                "account '{account}' does not exist"
                            )));
                        }
                        if let [bucket, ..] = rest {
                            grant.check(Some(bucket), is_write(m))?;
                        } else {
                            grant.check(None, is_write(m))?;
                        }
                        self.buckets_route(req, grant, rest).await
                    }
                    _ => Err(not_found()),
                }
            }
            _ => Err(not_found()),
        }
    }

    async fn buckets_route(
        &self,
        req: &ApiRequest,
        grant: &Grant,
        rest: &[&str],
    ) -> Result<ApiResponse, Error> {
        // Names in the path become KV keys: one that breaks the naming rules cannot exist
        // (and must not reach KV, whose keys are limited to 512 bytes).
        if let [b, tail @ ..] = rest {
            if crate::validate::bucket_name(b).is_err() {
                return Err(Error::not_found(format!(
                    "bucket '{}' does not exist",
                    b.chars().take(64).collect::<String>()
                )));
            }
            if let ["consumers", c, ..] = tail {
                if !matches!(*c, "$bulk" | "$index") && crate::validate::consumer_name(c).is_err() {
                    return Err(Error::not_found(format!(
                        "consumer '{}' does not exist in bucket '{b}'",
                        c.chars().take(64).collect::<String>()
                    )));
                }
            }
        }
        // `$index` and `$check` read their own parameters (their `cursor` and `limit` are not
        // a consumer list's).
        let q = match rest {
            [_, "$check"] | [_, "consumers", "$index"] | [_, "consumers", _, "usage"] => {
                Query::default()
            }
            _ => Query::parse(&req.query)?,
        };
        let mut q = q;
        if q.key_format == KeyFormat::Visible {
            self.may_show_keys(grant, rest)?;
            // Each key shown is one decryption in the bucket's single-threaded object, and a
            // page of consumers with their keys could be 100,000 of them: at most
            // MAX_VISIBLE_CONSUMERS consumers per page (10,000 keys).
            if q.include_api_keys {
                q.limit = q.limit.min(super::query::MAX_VISIBLE_CONSUMERS);
            }
        }
        let m = req.method.as_str();
        match rest {
            [] => match m {
                "GET" => self.list_buckets(grant, &q),
                "POST" => self.create_bucket(grant, req),
                _ => Err(method_not_allowed()),
            },
            [b] => match m {
                "GET" => self.get_bucket(b),
                "PATCH" => self.patch_bucket(b, req),
                "DELETE" => self.delete_bucket(b),
                _ => Err(method_not_allowed()),
            },
            [b, "$check"] => match m {
                "GET" => self.check_bucket(b, &req.query, false).await,
                "POST" => self.check_bucket(b, &req.query, true).await,
                _ => Err(method_not_allowed()),
            },
            [b, "consumers"] => match m {
                "GET" => self.list_consumers(b, &q),
                "POST" => self.create_consumer(b, req, &q),
                _ => Err(method_not_allowed()),
            },
            [b, "consumers", "$bulk"] => match m {
                "POST" => self.bulk_consumers(b, req),
                _ => Err(method_not_allowed()),
            },
            [b, "consumers", "$index"] => match m {
                "GET" => self.consumer_index(b, &req.query),
                _ => Err(method_not_allowed()),
            },
            [b, "consumers", c] => match m {
                "GET" => self.get_consumer(b, c, &q).await,
                "PATCH" => self.patch_consumer(b, c, req, &q),
                "DELETE" => self.delete_consumer(b, c, &q),
                _ => Err(method_not_allowed()),
            },
            [b, "consumers", c, "roll-key"] => match m {
                "POST" => self.roll_key(b, c, req, &q),
                _ => Err(method_not_allowed()),
            },
            [b, "consumers", c, "keys"] => match m {
                "GET" => self.list_keys(b, c, &q).await,
                "POST" => self.create_key(b, c, req, &q),
                _ => Err(method_not_allowed()),
            },
            [b, "consumers", c, "keys", "$bulk"] => match m {
                "POST" => self.bulk_keys(b, c, req, &q),
                _ => Err(method_not_allowed()),
            },
            [b, "consumers", c, "usage"] => match m {
                "GET" => self.consumer_usage(b, c, &req.query).await,
                _ => Err(method_not_allowed()),
            },
            [b, "consumers", c, "keys", id] => match m {
                "GET" => self.get_key(b, c, id, &q).await,
                "PATCH" => self.patch_key(b, c, id, req, &q),
                "DELETE" => self.delete_key(b, c, id, &q),
                _ => Err(method_not_allowed()),
            },
            [b, "consumers", c, "managers"] => match m {
                "GET" => self.list_managers(b, c, &q),
                "POST" => self.add_manager(b, c, req, &q),
                _ => Err(method_not_allowed()),
            },
            [b, "consumers", c, "managers", id] => match m {
                "DELETE" => self.delete_manager(b, c, id, &q),
                _ => Err(method_not_allowed()),
            },
            _ => Err(not_found()),
        }
    }

    /// `key-format=visible`: only write tokens, and only in a retrievable bucket (a
    /// hash-only bucket's keys cannot be shown again: keyward never had them).
    fn may_show_keys(&self, grant: &Grant, rest: &[&str]) -> Result<(), Error> {
        if grant.access != token::Access::Write {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "key-format=visible shows keys in plaintext and needs a write token; this token reads only (use masked or none)",
            ));
        }
        let [bucket, ..] = rest else {
            return Ok(());
        };
        self.visible_vault(bucket).map(|_| ())
    }

    async fn verify(&self, req: &ApiRequest, grant: &Grant) -> Result<ApiResponse, Error> {
        let body: VerifyRequest = body(req)?;
        let bucket = body.bucket.as_deref().unwrap_or(&self.config.bucket);
        crate::validate::bucket_name(bucket)?;
        // Charging a consumer's limits is a write: a read token only looks.
        grant.check(Some(bucket), body.consume)?;
        let verifier = Verifier {
            store: self.store,
            hasher: self.hasher,
            cache: self.cache,
            bucket,
            prefix: &self.config.key_prefix,
            imported: self.config.imported_key_pattern.as_ref(),
        };
        let verdict = verifier.verify(&body.key, self.now).await?;
        let record = match &verdict {
            Verdict::Valid(r) | Verdict::Expired(r) => Some(r),
            _ => None,
        };
        let mut out = VerifyOut {
            valid: matches!(verdict, Verdict::Valid(_)),
            code: verdict.code(),
            consumer: record.map(|r| r.consumer.clone()),
            key_id: record.map(|r| r.key_id.clone()),
            metadata: record.map(|r| r.metadata.clone()),
            expires_on: record.and_then(|r| r.expires_on).map(timestamp::format),
            ratelimit: None,
            quota: None,
        };
        if let Verdict::Valid(r) = &verdict {
            self.verify_limits(bucket, r, body.consume, &mut out)
                .await?;
        }
        Ok(ApiResponse::json(200, &out))
    }

    /// Adds where the consumer's limits stand to a valid key's answer; with `consume`,
    /// charges one request as the edge would.
    async fn verify_limits(
        &self,
        bucket: &str,
        record: &crate::storage::kv::KeyRecord,
        consume: bool,
        out: &mut VerifyOut,
    ) -> Result<(), Error> {
        use crate::limits::{policy::Limits, wire};
        let limits = Limits::of(&record.metadata, &self.config.limits.defaults);
        if limits.is_unlimited() {
            return Ok(());
        }
        let consumer = wire::Consumer {
            bucket: bucket.to_owned(),
            name: record.consumer.clone(),
        };
        let ask = wire::Ask {
            limits,
            want: if consume {
                wire::Want::One
            } else {
                wire::Want::Peek
            },
            returned: Vec::new(),
            usage: Vec::new(),
        };
        let answer = match self.counters.ask(&consumer, &ask).await {
            Ok(a) => a,
            // A report is best-effort: without the object the answer leaves the limits
            // out; a charge follows RATE_LIMIT_FAIL (closed: the error, a logged 500).
            Err(e)
                if consume && self.config.limits.fail == crate::limits::settings::Fail::Closed =>
            {
                return Err(e)
            }
            Err(_) => return Ok(()),
        };
        let shown = |s: crate::limits::lease::Standing| crate::api::model::LimitOut {
            limit: s.limit,
            remaining: s.remaining,
            reset: timestamp::format(self.now + s.reset_ms),
        };
        out.ratelimit = answer.rate.map(shown);
        out.quota = answer.quota.map(shown);
        if consume && answer.grant.requests == 0 {
            out.valid = false;
            out.code = if answer.quota.is_some_and(|q| q.remaining == 0) {
                crate::edge::verify::Code::QuotaExceeded
            } else {
                crate::edge::verify::Code::RateLimited
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::unquoted;

    #[test]
    fn serde_messages_lose_the_string_value_they_quote() {
        let e = serde_json::from_str::<Vec<u32>>(r#"["zpka_0123456789abcdef"]"#).unwrap_err();
        let message = unquoted(&e.to_string());
        assert!(!message.contains("zpka_"), "{message}");
        assert!(
            message.contains("invalid type: string, expected u32"),
            "{message}"
        );
        let unknown = "unknown field `descripton`, expected one of `name`";
        assert_eq!(unquoted(unknown), unknown);
        assert_eq!(
            unquoted(r#"invalid value: string "x"#),
            "a value is of the wrong type"
        );
    }
}
