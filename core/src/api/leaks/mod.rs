//! Leaked keys, server side: `POST /v1/keys/$lookup` (whose are these keys?) and
//! `POST /v1/leaks` (these keys leaked: flag them, or revoke them), the latter also in the
//! shape GitHub's secret scanning sends, signed by GitHub instead of a management token.
//!
//! The Worker's front runs them: it hashes every key at once (the plaintexts go no further,
//! and are never stored, logged or echoed: answers show the masked form), asks the
//! directory for the buckets, then each bucket's object in scope once with all the hashes
//! ([`Objects`], an internal route; `object` is its part inside the objects). A key that is
//! not shaped like a key of this deployment (prefix, checksum) is answered at once, without
//! any lookup.
//!
//! What a report does, in the key's own object and in one transaction with the outbox:
//! records `leakedOn` (now) and `leakedAt` (the report's `url`, else `source`) — the first
//! report's are kept, a later one only fills a missing `leakedAt`, so reporting a key again
//! changes nothing — and, when `LEAK_POLICY=revoke` or the item says `revoke: true`, sets
//! its expiry to now: the gateway refuses it from then on, while listings still show it,
//! with its leak.

pub mod github;
mod object;
#[cfg(test)]
mod tests;
pub mod wire;

pub use object::serve_object;

use super::router::{segments, Api};
use super::token::{self, Grant};
use crate::config::LeakPolicy;
use crate::error::{Error, ErrorKind};
use crate::http::{ApiRequest, ApiResponse};
use crate::key::format;
use crate::problem;
use crate::storage::bucket::sql::Sql;
use crate::storage::store::Store;
use crate::timestamp::{self, Millis};
use github::PublicKeys;
use std::collections::BTreeMap;
use wire::{Action, Answer, Call, Hit, Label, LookupItem, LookupOut, Mark, ReportItem};

/// The two leak routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/keys/$lookup`: read access.
    Lookup,
    /// `POST /v1/leaks`: write access, or GitHub's signature.
    Report,
}

impl Route {
    /// The leak route `path` (below the API prefix) is, if it is one.
    pub fn of(path: &str) -> Option<Route> {
        let segs = segments(path);
        match segs
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["v1", "keys", "$lookup"] => Some(Route::Lookup),
            ["v1", "leaks"] => Some(Route::Report),
            _ => None,
        }
    }
}

/// GitHub's signature headers, as the request carried them.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// `Github-Public-Key-Identifier`.
    pub key_identifier: &'a str,
    /// `Github-Public-Key-Signature`.
    pub signature: &'a str,
}

/// How the front reaches the objects: the adapter sends `body` (made here) to the internal
/// leak route of the directory (`bucket` = `None`) or of bucket `bucket`'s object, and
/// returns the answer's body; an answer other than 200 is an error.
#[allow(async_fn_in_trait)]
pub trait Objects {
    /// One call.
    async fn call(&self, bucket: Option<&str>, body: Vec<u8>) -> Result<Vec<u8>, Error>;
}

/// [`Objects`] when one database holds every bucket and the directory, as natively (tests,
/// tools): each call runs against it directly.
#[derive(Debug, Clone, Copy)]
pub struct OneDatabase<'a, Q> {
    /// The database.
    pub sql: &'a Q,
    /// The time of the request.
    pub now: Millis,
}

impl<Q: Sql> Objects for OneDatabase<'_, Q> {
    async fn call(&self, bucket: Option<&str>, body: Vec<u8>) -> Result<Vec<u8>, Error> {
        let answer = object::serve(self.sql, bucket, &body, self.now)?;
        Ok(serde_json::to_vec(&answer).unwrap_or_default())
    }
}

/// Who sent a leak request.
enum Caller<'g> {
    /// A management token: its buckets only.
    Token(&'g Grant),
    /// GitHub, by a signature still to be checked against the body: every bucket.
    GitHub,
}

impl Caller<'_> {
    fn sees(&self, bucket: &str) -> bool {
        match self {
            Caller::Token(g) => g.sees(bucket),
            Caller::GitHub => true,
        }
    }
}

/// The problem answer for `e`; a 5xx goes to `log` first (its answer carries no detail).
fn logged_problem(e: &Error, log: impl FnOnce(&Error)) -> ApiResponse {
    if problem::status_of(e.kind()) >= 500 {
        log(e);
    }
    problem::from_error(e)
}

/// The answer when some bucket objects failed and some keys were not found elsewhere (they
/// may be in those buckets): 503 with `Retry-After`, naming the buckets. `None` when the
/// answer is complete.
fn incomplete(failed: &[String], unresolved: bool) -> Option<ApiResponse> {
    if failed.is_empty() || !unresolved {
        return None;
    }
    let mut answer = crate::problem::response(
        503,
        Some(format!(
            "the objects of buckets {} did not answer; keys in them may be among those not found. What the others recorded stands: send the same request again (it is idempotent)",
            failed.join(", ")
        )),
    );
    answer.headers.push(("retry-after".into(), "5".into()));
    Some(answer)
}

fn unauthorized() -> Error {
    Error::new(
        ErrorKind::Unauthorized,
        "a valid management token is required: Authorization: Bearer <token> (or, for POST /v1/leaks, GitHub's signature headers)",
    )
}

/// Sends `call` to an object and reads its answer.
async fn call(objects: &impl Objects, bucket: Option<&str>, call: &Call) -> Result<Answer, Error> {
    let body = serde_json::to_vec(call).unwrap_or_default();
    let bytes = objects.call(bucket, body).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::storage(format!(
            "leak call: the answer of {} is not readable: {e}",
            bucket.unwrap_or("the directory")
        ))
    })
}

/// A key as asked, once hashed: its masked form, and its hash when it is a key of this
/// deployment.
struct Asked {
    masked: String,
    hash: Option<String>,
}

impl<S: Store, Q: Sql> Api<'_, S, Q> {
    fn asked(&self, key: &str) -> Asked {
        let parsed = format::parse(key).ok();
        let ours = parsed.is_some_and(|p| p.prefix() == self.config.key_prefix);
        // A key the edge would verify (imported ones too: `keyward import` asks which of its
        // keys this deployment can take) is hashed and looked up; anything else is not.
        let imported = !ours
            && crate::key::imported::check_supplied(key).is_ok()
            && (self.config.imported_key_pattern.as_ref()).is_some_and(|p| p.matches(key));
        Asked {
            masked: if imported {
                crate::key::imported::mask(key)
            } else {
                wire::masked(key, parsed.is_some())
            },
            hash: (ours || imported).then(|| self.hasher.hash(key)),
        }
    }

    fn leak_caller(
        &self,
        req: &ApiRequest,
        route: Route,
        signed: Option<Signed<'_>>,
        github: Result<&PublicKeys, &Error>,
    ) -> Result<Caller<'_>, Error> {
        if let Some(presented) = token::bearer(req.authorization.as_deref()) {
            let grant = self
                .tokens
                .authenticate(presented)
                .ok_or_else(unauthorized)?;
            grant.check(None, route == Route::Report)?;
            return Ok(Caller::Token(grant));
        }
        match (route, signed, github) {
            (Route::Report, Some(_), Ok(keys)) if !keys.is_empty() => Ok(Caller::GitHub),
            (Route::Report, Some(_), Ok(_)) => Err(Error::new(
                ErrorKind::Unauthorized,
                "GitHub-signed reports are not accepted: LEAK_REPORT_PUBLIC_KEYS is not set; send a management token",
            )),
            (Route::Report, Some(_), Err(e)) => Err(e.clone()),
            _ => Err(unauthorized()),
        }
    }

    /// The answer to a leak request made before its body is read: 405 for a method no route
    /// has, 401/403 when it carries neither a management token allowed to do it nor (a
    /// report, with `LEAK_REPORT_PUBLIC_KEYS` set) GitHub's signature headers. `None`: read
    /// the body and call [`Api::handle_leaks`]. 5xx errors go to `log` first.
    pub fn leaks_before_body(
        &self,
        req: &ApiRequest,
        route: Route,
        signed: Option<Signed<'_>>,
        github: Result<&PublicKeys, &Error>,
        log: impl FnOnce(&Error),
    ) -> Option<ApiResponse> {
        if !crate::http::is_known_method(&req.method) {
            return Some(problem::response(405, None));
        }
        let e = self.leak_caller(req, route, signed, github).err()?;
        Some(logged_problem(&e, log))
    }

    /// Answers a leak request (its body read, exactly the bytes received: a signature is
    /// checked against them and the JSON read from them), calling the objects through
    /// `objects`. 5xx errors go to `log` before their generic answer is made.
    pub async fn handle_leaks(
        &self,
        req: &ApiRequest,
        route: Route,
        signed: Option<Signed<'_>>,
        github: Result<&PublicKeys, &Error>,
        objects: &impl Objects,
        log: impl FnOnce(&Error),
    ) -> ApiResponse {
        match self.leaks(req, route, signed, github, objects).await {
            Ok(r) => r,
            Err(e) => logged_problem(&e, log),
        }
    }

    /// The answer to `req` when it is a leak route, with the buckets in this API's own
    /// database (natively one holds them all: tests, tools); `None` for other routes.
    pub(crate) async fn leaks_in_one_database(
        &self,
        req: &ApiRequest,
    ) -> Option<Result<ApiResponse, Error>> {
        let route = Route::of(&req.path)?;
        let objects = OneDatabase {
            sql: self.sql,
            now: self.now,
        };
        let no_keys = PublicKeys::default();
        Some(self.leaks(req, route, None, Ok(&no_keys), &objects).await)
    }

    async fn leaks(
        &self,
        req: &ApiRequest,
        route: Route,
        signed: Option<Signed<'_>>,
        github: Result<&PublicKeys, &Error>,
        objects: &impl Objects,
    ) -> Result<ApiResponse, Error> {
        let caller = self.leak_caller(req, route, signed, github)?;
        if req.method != "POST" {
            return Err(Error::new(
                ErrorKind::MethodNotAllowed,
                "method not allowed on this path",
            ));
        }
        if let (Caller::GitHub, Some(s), Ok(keys)) = (&caller, signed, github) {
            keys.verify(s.key_identifier, s.signature, &req.body)?;
        }
        match route {
            Route::Lookup => self.lookup(req, &caller, objects).await,
            Route::Report => self.report(req, &caller, objects).await,
        }
    }

    /// The buckets `caller` may act on, as the directory lists them (by name).
    async fn buckets_in_scope(
        &self,
        caller: &Caller<'_>,
        objects: &impl Objects,
    ) -> Result<Vec<String>, Error> {
        let answer = call(objects, None, &Call::Buckets).await?;
        Ok(answer
            .buckets
            .into_iter()
            .filter(|b| caller.sees(b))
            .collect())
    }

    /// Asks each bucket in scope in turn about the hashes no bucket has answered yet (the
    /// call `call_for` makes of them), until none is left: which bucket holds each hash,
    /// and its row. An object that fails is skipped so the others still answer;
    /// `Ok(Err(answer))` is the 503 when one failed and some hashes were not found (they may
    /// be in its bucket).
    async fn fan_out(
        &self,
        caller: &Caller<'_>,
        objects: &impl Objects,
        hashes: &[String],
        call_for: impl Fn(&[String]) -> Call,
    ) -> Result<Result<BTreeMap<String, (String, Hit)>, ApiResponse>, Error> {
        let mut found: BTreeMap<String, (String, Hit)> = BTreeMap::new();
        let mut failed = Vec::new();
        if hashes.is_empty() {
            return Ok(Ok(found));
        }
        for bucket in self.buckets_in_scope(caller, objects).await? {
            let rest: Vec<String> = hashes
                .iter()
                .filter(|h| !found.contains_key(*h))
                .cloned()
                .collect();
            if rest.is_empty() {
                break;
            }
            let Ok(answer) = call(objects, Some(&bucket), &call_for(&rest)).await else {
                failed.push(bucket);
                continue;
            };
            for hit in answer.hits {
                found
                    .entry(hit.hash.clone())
                    .or_insert_with(|| (bucket.clone(), hit));
            }
        }
        let unresolved = hashes.iter().any(|h| !found.contains_key(h));
        Ok(match incomplete(&failed, unresolved) {
            Some(answer) => Err(answer),
            None => Ok(found),
        })
    }

    async fn lookup(
        &self,
        req: &ApiRequest,
        caller: &Caller<'_>,
        objects: &impl Objects,
    ) -> Result<ApiResponse, Error> {
        // Each key is hashed at once; past this statement only hashes and masks remain.
        let asked: Vec<Asked> = wire::lookup_body(req)?
            .iter()
            .map(|k| self.asked(k))
            .collect();
        let mut hashes: Vec<String> = asked.iter().filter_map(|a| a.hash.clone()).collect();
        hashes.sort();
        hashes.dedup();
        let found = match self
            .fan_out(caller, objects, &hashes, |rest| Call::Lookup {
                hashes: rest.to_vec(),
            })
            .await?
        {
            Ok(found) => found,
            Err(incomplete) => return Ok(incomplete),
        };
        let data = asked
            .into_iter()
            .map(|a| {
                let hit = a.hash.as_ref().and_then(|h| found.get(h));
                LookupItem {
                    key: a.masked,
                    valid: a.hash.is_some(),
                    found: hit.is_some(),
                    bucket: hit.map(|(b, _)| b.clone()),
                    consumer: hit.map(|(_, h)| h.consumer.clone()),
                    key_id: hit.map(|(_, h)| h.key_id.clone()),
                    active: hit.map(|(_, h)| h.expires_on.is_none_or(|t| t > self.now)),
                    expires_on: hit.and_then(|(_, h)| h.expires_on).map(timestamp::format),
                    leaked_on: hit.and_then(|(_, h)| h.leaked_on).map(timestamp::format),
                    leaked_at: hit.and_then(|(_, h)| h.leaked_at.clone()),
                }
            })
            .collect();
        Ok(ApiResponse::json(200, &LookupOut { data }))
    }

    async fn report(
        &self,
        req: &ApiRequest,
        caller: &Caller<'_>,
        objects: &impl Objects,
    ) -> Result<ApiResponse, Error> {
        let reports = wire::report_body(req, matches!(caller, Caller::GitHub))?;
        let policy_revokes = self.config.leak_policy == LeakPolicy::Revoke;
        // One mark per key: revoked if any of its reports asks, at the first place named.
        let mut marks: BTreeMap<String, Mark> = BTreeMap::new();
        let mut items = Vec::with_capacity(reports.len());
        for r in &reports {
            let asked = self.asked(&r.key);
            if let Some(hash) = &asked.hash {
                let mark = marks.entry(hash.clone()).or_insert_with(|| Mark {
                    hash: hash.clone(),
                    at: None,
                    revoke: false,
                });
                mark.revoke |= policy_revokes || r.revoke == Some(true);
                if mark.at.is_none() {
                    mark.at = wire::leaked_at(r, &asked.masked);
                }
            }
            let token_type = r
                .kind
                .clone()
                .unwrap_or_else(|| wire::DEFAULT_TOKEN_TYPE.to_owned());
            items.push((asked, wire::token_hash(&r.key), token_type));
        }
        // The plaintexts end here.
        drop(reports);
        let hashes: Vec<String> = marks.keys().cloned().collect();
        // Reports are idempotent: a bucket whose object fails is skipped, the others keep
        // what they recorded, and the caller is asked to send it all again.
        let found = match self
            .fan_out(caller, objects, &hashes, |rest| Call::Report {
                marks: rest.iter().filter_map(|h| marks.get(h).cloned()).collect(),
            })
            .await?
        {
            Ok(found) => found,
            Err(incomplete) => return Ok(incomplete),
        };
        let out: Vec<ReportItem> = items
            .into_iter()
            .map(|(asked, token_hash, token_type)| {
                let hit = asked.hash.as_ref().and_then(|h| found.get(h));
                let revoked = asked
                    .hash
                    .as_ref()
                    .and_then(|h| marks.get(h))
                    .is_some_and(|m| m.revoke);
                ReportItem {
                    key: asked.masked,
                    found: hit.is_some(),
                    bucket: hit.map(|(b, _)| b.clone()),
                    consumer: hit.map(|(_, h)| h.consumer.clone()),
                    key_id: hit.map(|(_, h)| h.key_id.clone()),
                    action: match (hit, revoked) {
                        (None, _) => Action::None,
                        (Some(_), true) => Action::Revoked,
                        (Some(_), false) => Action::Flagged,
                    },
                    token_hash,
                    token_type,
                    label: if hit.is_some() {
                        Label::TruePositive
                    } else {
                        Label::FalsePositive
                    },
                }
            })
            .collect();
        Ok(ApiResponse::json(200, &out))
    }
}
