//! The bucket object: a SQLite-backed Durable Object per bucket, the single writer of its
//! tables, plus one more instance (named [`DIRECTORY`]) that lists the buckets.
//!
//! Everything it decides is in keyward-core (`storage::bucket`, the developer API); this
//! file runs a request against the object's SQL, then applies what the outbox owes KV,
//! with one drain at a time and an alarm that retries with backoff until nothing is owed.

use crate::app::respond;
use crate::bindings;
use crate::random::WebCrypto;
use crate::sql_storage::ObjectSql;
use crate::state::{now, State};
use keyward_core::api::Api;
use keyward_core::http::{ApiRequest, ApiResponse};
use keyward_core::problem;
use keyward_core::storage::bucket::import::{self, Legacy};
use keyward_core::storage::bucket::outbox::{self, Entry, KvSink, Sink};
use keyward_core::storage::bucket::schema;
use keyward_core::{Error, ErrorKind};
use std::cell::{Cell, RefCell};
use std::time::Duration;
use worker::{
    console_error, durable_object, Delay, Env, Headers, Method, Request, RequestInit, Response,
    Result,
};

/// The name of the instance that lists the buckets (not a valid bucket name).
pub const DIRECTORY: &str = "$directory";
/// Request header by which the Worker names the bucket a request is for.
pub const BUCKET_HEADER: &str = "x-keyward-bucket";
/// Outbox entries the drain after a request applies before it answers; the rest goes to the
/// alarm (a request may make 1000 KV operations, an import step or `$check` spends some).
const REQUEST_DRAIN_BUDGET: usize = 100;
/// Outbox entries one alarm applies.
const ALARM_DRAIN_BUDGET: usize = 800;
/// The alarm set with every commit that owes KV something, before any KV call: should the
/// object go away before its drain, the debt is still paid.
const SAFETY_ALARM_MS: i64 = 10_000;
/// KV operations one step of the old layout's import may spend.
const IMPORT_BUDGET: usize = 800;
/// How long a request waits for another's drain or import (in 10 ms steps).
const WAIT_STEPS: u32 = 300;

#[durable_object]
pub struct BucketObject {
    state: worker::State,
    env: Env,
    /// The tables exist (checked once per instance).
    ready: Cell<bool>,
    /// A drain is running: only one may, or an old put could land after a newer delete.
    draining: Cell<bool>,
    /// An import of the old layout is running; other requests wait for it.
    importing: Cell<bool>,
    /// When this instance last set the alarm for (ms), while it has not fired.
    alarm_due: Cell<Option<i64>>,
}

/// Request header carrying the developer-API path (and `?query`) to the object. The object's
/// URL path is fixed ([`API_URL`]): a client's path never becomes a URL the runtime could
/// normalize (`..`) into one of the object's internal routes.
pub const PATH_HEADER: &str = "x-keyward-path";
/// Response header naming the KV keys this request's drain wrote (or `*` for many), so the
/// Worker's front drops them from its own isolate's cache too.
pub const WRITTEN_HEADER: &str = "x-keyward-written";
/// Where the front sends developer-API requests (objects ignore the host).
pub const API_URL: &str = "https://keyward-object/api";
/// Where the front sends its leak calls (`keyward_core::api::leaks`): the directory lists
/// the buckets, a bucket's object looks up and flags its keys, by hash.
pub const LEAKS_URL: &str = "https://keyward-object/leaks";
/// Most KV keys named in [`WRITTEN_HEADER`]; beyond that it says `*`.
const WRITTEN_MAX: usize = 64;

fn unavailable(detail: &str) -> Result<Response> {
    let mut r = problem::response(503, Some(detail.to_owned()));
    r.headers.push(("retry-after".into(), "1".into()));
    respond(r)
}

async fn pause() {
    Delay::from(Duration::from_millis(10)).await;
}

impl BucketObject {
    fn sql(&self) -> std::result::Result<ObjectSql, Error> {
        let sql = ObjectSql(self.state.storage().sql());
        if !self.ready.get() {
            schema::ensure(&sql)?;
            self.ready.set(true);
        }
        Ok(sql)
    }

    /// Imports the old KV layout (of `bucket`, or the bucket list for the directory) before
    /// anything else touches the tables; `false` when it needs another call.
    async fn imported(&self, sql: &ObjectSql, app: &State, bucket: Option<&str>) -> bool {
        for _ in 0..WAIT_STEPS {
            let done = match bucket {
                Some(b) => matches!(import::state(sql, b), Ok(Legacy::Done(_))),
                None => import::directory_imported(sql).unwrap_or(false),
            };
            if done {
                return true;
            }
            if self.importing.get() {
                pause().await;
                continue;
            }
            self.importing.set(true);
            let result = match bucket {
                Some(b) => import::import(sql, &app.kv, b, IMPORT_BUDGET)
                    .await
                    .map(|s| matches!(s, Legacy::Done(_))),
                None => import::import_directory(sql, &app.kv, IMPORT_BUDGET).await,
            };
            self.importing.set(false);
            match result {
                Ok(done) => {
                    if !done {
                        self.schedule(1).await;
                    }
                    return done;
                }
                Err(e) => {
                    console_error!("keyward: importing the old KV layout: {e}");
                    return false;
                }
            }
        }
        false
    }

    /// Applies what the outbox owes, one drain at a time; schedules the alarm for the rest.
    /// Returns the KV keys it wrote.
    async fn drain(&self, sql: &ObjectSql, app: &State, budget: usize) -> Vec<String> {
        let mut waited = 0;
        while self.draining.get() {
            if waited == WAIT_STEPS {
                self.schedule(1).await;
                return Vec::new();
            }
            waited += 1;
            pause().await;
        }
        if outbox::len(sql).unwrap_or(1) == 0 {
            return Vec::new();
        }
        self.draining.set(true);
        let sink = Recording {
            inner: KvSink {
                kv: &app.kv,
                cache: &app.settings.cache,
                directory: DirectoryStub { env: &self.env },
            },
            written: RefCell::new(Vec::new()),
        };
        let result = outbox::drain(sql, &sink, budget).await;
        self.draining.set(false);
        match result {
            Ok(d) => {
                if let Some(e) = &d.failed {
                    console_error!("keyward: outbox: {e} ({} still owed; retrying)", d.left);
                }
                if d.left > 0 {
                    let backoff = outbox::retry_delay_ms(sql, &d).unwrap_or(1_000);
                    self.schedule(backoff).await;
                }
            }
            Err(e) => {
                console_error!("keyward: outbox: {e}");
                self.schedule(1_000).await;
            }
        }
        sink.written.into_inner()
    }

    /// Sets the alarm `ms` from now, unless one is due sooner.
    async fn schedule(&self, ms: i64) {
        let storage = self.state.storage();
        let due = now() + ms;
        if let Ok(Some(t)) = storage.get_alarm().await {
            if t <= due {
                return;
            }
        }
        match storage.set_alarm(ms).await {
            Ok(()) => self.alarm_due.set(Some(due)),
            Err(e) => console_error!("keyward: setting the outbox alarm: {e}"),
        }
    }

    /// `PUT|DELETE /directory/{bucket}`: the directory's copy of a bucket (from the bucket's
    /// own object, through its outbox).
    async fn directory_update(
        &self,
        sql: &ObjectSql,
        mut req: Request,
        name: &str,
    ) -> std::result::Result<Response, Error> {
        let record = match req.method() {
            Method::Put => Some(req.text().await.map_err(runtime)?),
            Method::Delete => None,
            _ => return respond(problem::response(405, None)).map_err(runtime),
        };
        outbox::apply_directory(sql, name, record.as_deref())?;
        Response::empty()
            .map(|r| r.with_status(204))
            .map_err(runtime)
    }

    async fn serve(&self, mut req: Request) -> std::result::Result<Response, Error> {
        let app = State::from_env(&self.env)?;
        let sql = self.sql()?;
        let url = req.url().map_err(runtime)?;
        if let Some(name) = url.path().strip_prefix("/directory/") {
            let name = name.to_owned();
            // The directory takes in the old layout's list first, so that an update (a
            // bucket deleted) is never undone by an import that runs after it.
            if !self.imported(&sql, &app, None).await {
                return unavailable("the bucket list is being imported").map_err(runtime);
            }
            return self.directory_update(&sql, req, &name).await;
        }
        let leak_call = url.path() == "/leaks";
        if url.path() != "/api" && !leak_call {
            return respond(problem::response(404, None)).map_err(runtime);
        }
        let target = req
            .headers()
            .get(PATH_HEADER)
            .ok()
            .flatten()
            .unwrap_or_default();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let bucket = req.headers().get(BUCKET_HEADER).ok().flatten();
        if !self.imported(&sql, &app, bucket.as_deref()).await {
            return unavailable(
                "the bucket is being imported from the old KV layout; try again in a moment",
            )
            .map_err(runtime);
        }
        let body = match req.method() {
            Method::Get | Method::Head | Method::Delete => Vec::new(),
            _ => req.bytes().await.map_err(runtime)?,
        };
        if leak_call {
            let response = keyward_core::api::leaks::serve_object(
                &sql,
                bucket.as_deref(),
                &body,
                now(),
                |e| console_error!("keyward: leak call: {e}"),
            );
            return self.finish(&sql, &app, response).await;
        }
        let api_req = ApiRequest {
            method: req.method().to_string().to_ascii_uppercase(),
            path: path.to_owned(),
            query: query.to_owned(),
            authorization: req.headers().get("authorization").ok().flatten(),
            prefer: req.headers().get("prefer").ok().flatten(),
            body,
        };
        // A verified end user's request (the front checked the token and named the e-mail).
        let me = keyward_core::selfserve::me_segments(path).zip(
            req.headers()
                .get(keyward_core::selfserve::EMAIL_HEADER)
                .ok()
                .flatten()
                .map(|v| keyward_core::selfserve::from_header_value(&v)),
        );
        // Management tokens only for the developer API: a broken MANAGEMENT_TOKENS must not
        // take /v1/me down with it.
        let no_tokens = keyward_core::api::token::Tokens::new(None);
        let tokens = match me {
            Some(_) => &no_tokens,
            None => app.settings.tokens()?,
        };
        let api = Api {
            store: &app.kv,
            sql: &sql,
            entropy: &WebCrypto,
            hasher: &app.settings.hasher,
            cache: &app.settings.cache,
            config: &app.settings.config,
            tokens,
            now: now(),
            openapi: "",
            counters: &crate::limiter::ObjectCounters {
                env: self.env.clone(),
            },
        };
        let response = match (me, bucket.as_deref()) {
            (Some((segs, email)), Some(bucket)) => {
                let who = keyward_core::selfserve::jwt::Identity {
                    email,
                    issuer: req
                        .headers()
                        .get(keyward_core::selfserve::ISSUER_HEADER)
                        .ok()
                        .flatten()
                        .map(|v| keyward_core::selfserve::from_header_value(&v)),
                };
                let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
                api.handle_me_logged(
                    &api_req,
                    &segs,
                    bucket,
                    &who,
                    &app.settings.config.portal,
                    |e| console_error!("keyward: /v1/me: {e}"),
                )
                .await
            }
            _ => {
                api.handle_logged(&api_req, |e| console_error!("keyward: developer API: {e}"))
                    .await
            }
        };
        self.finish(&sql, &app, response).await
    }

    /// Sends `response` once what its request owes KV is on its way.
    async fn finish(
        &self,
        sql: &ObjectSql,
        app: &State,
        mut response: ApiResponse,
    ) -> std::result::Result<Response, Error> {
        // The change is committed. When it owes KV anything, the alarm is set first — in the
        // same synchronous run as the SQL writes, so they commit together — then its KV
        // writes go out before the answer, so the client reads its own writes at the edge
        // (what fails, or does not fit the budget, is left to the alarm).
        // (Not when an alarm this instance set is due sooner: a retry's schedule is kept.)
        let soon = now() + SAFETY_ALARM_MS;
        let due_sooner = self.alarm_due.get().is_some_and(|t| t <= soon);
        if !due_sooner && outbox::len(sql).unwrap_or(1) > 0 {
            match self.state.storage().set_alarm(SAFETY_ALARM_MS).await {
                Ok(()) => self.alarm_due.set(Some(soon)),
                Err(e) => console_error!("keyward: setting the outbox alarm: {e}"),
            }
        }
        let written = self.drain(sql, app, REQUEST_DRAIN_BUDGET).await;
        if !written.is_empty() {
            let names = if written.len() > WRITTEN_MAX {
                "*".to_owned()
            } else {
                written.join(",")
            };
            response.headers.push((WRITTEN_HEADER.into(), names));
        }
        respond(response).map_err(runtime)
    }
}

impl worker::DurableObject for BucketObject {
    fn new(state: worker::State, env: Env) -> Self {
        Self {
            state,
            env,
            ready: Cell::new(false),
            draining: Cell::new(false),
            importing: Cell::new(false),
            alarm_due: Cell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        match self.serve(req).await {
            Ok(r) => Ok(r),
            Err(e) => {
                console_error!("keyward: bucket object: {e}");
                respond(problem::from_error(&e))
            }
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.alarm_due.set(None);
        // A failing alarm is retried only a few times by the runtime; the debt must not wait
        // for the next request, so errors are logged and the alarm set again.
        let ready = State::from_env(&self.env).and_then(|app| Ok((app, self.sql()?)));
        match ready {
            Ok((app, sql)) => {
                self.drain(&sql, &app, ALARM_DRAIN_BUDGET).await;
            }
            Err(e) => {
                console_error!("keyward: bucket object alarm: {e}; retrying in 60 s");
                self.schedule(60_000).await;
            }
        }
        Response::empty()
    }
}

fn runtime(e: worker::Error) -> Error {
    Error::new(ErrorKind::Storage, format!("runtime: {e}"))
}

/// Notes the KV key of each entry `inner` delivered.
struct Recording<K> {
    inner: K,
    written: RefCell<Vec<String>>,
}

impl<K: Sink> Sink for Recording<K> {
    async fn deliver(&self, entry: &Entry) -> std::result::Result<(), Error> {
        self.inner.deliver(entry).await?;
        if let Some(key) = entry.kv_key() {
            self.written.borrow_mut().push(key);
        }
        Ok(())
    }
}

/// Delivers directory entries to the directory instance.
struct DirectoryStub<'a> {
    env: &'a Env,
}

impl Sink for DirectoryStub<'_> {
    async fn deliver(&self, entry: &Entry) -> std::result::Result<(), Error> {
        let stub = self
            .env
            .durable_object(bindings::BUCKETS)
            .and_then(|ns| ns.id_from_name(DIRECTORY)?.get_stub())
            .map_err(runtime)?;
        let mut init = RequestInit::new();
        match &entry.value {
            Some(record) => {
                init.with_method(Method::Put)
                    .with_body(Some(record.as_str().into()));
            }
            None => {
                init.with_method(Method::Delete);
            }
        }
        init.with_headers(Headers::new());
        // Bucket names are `[a-z0-9-]`: nothing in them is special in a URL path.
        let url = format!("https://keyward-object/directory/{}", entry.name);
        let req = Request::new_with_init(&url, &init).map_err(runtime)?;
        let response = stub.fetch_with_request(req).await.map_err(runtime)?;
        if response.status_code() == 204 {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Storage,
                format!(
                    "directory answered {} for bucket '{}'",
                    response.status_code(),
                    entry.name
                ),
            ))
        }
    }
}
