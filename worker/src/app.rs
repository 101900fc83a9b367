//! The request flow: keyward's own routes go to the developer API, everything else is
//! gateway traffic that must carry a valid key. Converts between workers-rs types and
//! keyward-core's, and forwards verified requests upstream.

use crate::bindings;
use crate::bucket_object::{API_URL, BUCKET_HEADER, DIRECTORY, PATH_HEADER, WRITTEN_HEADER};
use crate::limiter::ObjectCounters;
use crate::random::WebCrypto;
use crate::state::{now, Settings, State};
use futures_util::StreamExt;
use keyward_core::api::token::Tokens;
use keyward_core::api::{is_v1, Api, Target};
use keyward_core::edge::gateway::{self, Decision};
use keyward_core::edge::throttle::{self, Limiter, PerClient};
use keyward_core::edge::verify::Verifier;
use keyward_core::http::{self, ApiRequest, ApiResponse, BodyCollector, MAX_BODY_BYTES};
use keyward_core::limits::isolate::Outcome;
use keyward_core::limits::policy::Limits;
use keyward_core::limits::wire::{Consumer, Counters};
use keyward_core::selfserve::page::{self, Asset};
use keyward_core::storage::bucket::sql::NoSql;
use keyward_core::{problem, Error, ErrorKind};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{
    console_error, console_warn, Context, Env, Fetch, Headers, Method, RateLimiter, Request,
    RequestInit, RequestRedirect, Response, Result,
};

/// The managers' portal page, served at `{API_PREFIX}/portal/`.
const PORTAL_FILES: &[Asset] = &[
    Asset {
        name: "",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../portal/index.html"),
    },
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../portal/index.html"),
    },
    Asset {
        name: "portal.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../portal/portal.css"),
    },
    Asset {
        name: "portal.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../portal/portal.js"),
    },
];

/// The developer API's description, served at `{API_PREFIX}/openapi.json`.
const OPENAPI: &str = include_str!("../../schemas/openapi.json");

/// Handles one request.
pub async fn handle(req: Request, env: &Env, ctx: &Context) -> Result<Response> {
    let state = match State::from_env(env) {
        Ok(s) => s,
        Err(e) => {
            console_error!("keyward: configuration: {e}");
            return respond(problem::response(500, None));
        }
    };
    let url = req.url()?;
    let result = match state.settings.config.own_path(url.path()) {
        Some(rest) => {
            let rest = rest.to_owned();
            api(req, &state, env, rest, url.query().unwrap_or("")).await
        }
        None => edge(req, &state, env, ctx, &url).await,
    };
    match result {
        Ok(r) => Ok(r),
        Err(e) => {
            console_error!("keyward: {e}");
            respond(problem::from_error(&e))
        }
    }
}

async fn api(
    mut req: Request,
    state: &State,
    env: &Env,
    path: String,
    query: &str,
) -> std::result::Result<Response, Error> {
    // The managers' portal page (files from portal/, embedded).
    let method = req.inner().method().to_ascii_uppercase();
    let access = req
        .headers()
        .has("cf-access-jwt-assertion")
        .unwrap_or(false);
    let config = &state.settings.config;
    if let Some(page) = page::answer(&path, &method, config, PORTAL_FILES, access) {
        return refuse(&req, page).await;
    }
    // End users, with their own tokens: never a management token's routes.
    if keyward_core::selfserve::me_segments(&path).is_some() {
        return crate::portal::me(req, state, env, path, query).await;
    }
    if content_length(&req).is_some_and(|n| n > MAX_BODY_BYTES) {
        return refuse(&req, problem::from_error(&http::body_too_large())).await;
    }
    let settings = &state.settings;
    // Health and the OpenAPI document need no token, so they answer even when the
    // management tokens cannot be read; every `/v1` request then fails, naming the secret.
    let no_tokens = Tokens::new(None);
    let tokens = match settings.tokens() {
        Ok(t) => t,
        Err(e) if is_v1(&path) => {
            console_error!("keyward: configuration: {e}");
            return refuse(&req, problem::response(500, None)).await;
        }
        Err(_) => &no_tokens,
    };
    let mut api_req = ApiRequest {
        // The method as sent: workers-rs reads any it does not know as GET.
        method: req.inner().method().to_ascii_uppercase(),
        path,
        query: query.to_owned(),
        authorization: req.headers().get("authorization").ok().flatten(),
        prefer: req.headers().get("prefer").ok().flatten(),
        body: Vec::new(),
    };
    let api = Api {
        store: &state.kv,
        sql: &NoSql,
        entropy: &WebCrypto,
        hasher: &settings.hasher,
        cache: &settings.cache,
        config: &settings.config,
        tokens,
        now: now(),
        openapi: OPENAPI,
        counters: &ObjectCounters { env: env.clone() },
    };
    // Leaked keys: every bucket's object may be asked, and GitHub signs instead of a token.
    if let Some(route) = keyward_core::api::leaks::Route::of(&api_req.path) {
        return crate::leaks::serve(req, &api, api_req, route, state, env).await;
    }
    // The token first: only an authenticated `/v1` request makes the Worker read a body.
    if let Some(answer) = api.answer_before_body(&api_req).await {
        return refuse(&req, answer).await;
    }
    if !matches!(api_req.method.as_str(), "GET" | "HEAD" | "DELETE") {
        match read_body(&mut req).await {
            Ok(body) => api_req.body = body,
            Err(e) if e.kind() == ErrorKind::TooLarge => {
                return respond(problem::from_error(&e)).map_err(js)
            }
            Err(e) => return Err(e),
        }
    }
    let object = match api.target(&api_req) {
        Target::Here => None,
        Target::Bucket(name) => Some(name),
        Target::Directory => Some(DIRECTORY.to_owned()),
    };
    if let Some(name) = object {
        let response = to_object(env, &name, &api_req, &[]).await?;
        return forget_written(response, settings);
    }
    let response = api
        .handle_logged(&api_req, |e| console_error!("keyward: developer API: {e}"))
        .await;
    respond(response).map_err(js)
}

/// The request's `Content-Length`, when it has a readable one.
pub(crate) fn content_length(req: &Request) -> Option<usize> {
    req.headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
}

/// Bodies up to this size (by `Content-Length`) are read and dropped before a refusal, so the
/// connection stays usable; anything larger, or of unknown length, is cancelled instead.
const DISCARD_MAX: usize = 64 * 1024;

/// Answers `response` without using the request's body. A small body of known length is read
/// and dropped (answering before a body ends makes wrangler dev's proxy hang the next
/// request on that connection); any other body is cancelled, or the runtime would take all
/// of it (however long) before sending the answer.
pub(crate) async fn refuse(
    req: &Request,
    response: ApiResponse,
) -> std::result::Result<Response, Error> {
    if let Some(body) = req.inner().body() {
        let small = content_length(req).is_some_and(|n| n <= DISCARD_MAX);
        if !body.locked() {
            if small {
                let mut chunks = worker::ByteStream::from(body);
                while let Some(Ok(_)) = chunks.next().await {}
            } else {
                let _ = JsFuture::from(body.cancel()).await;
            }
        }
    }
    respond(response).map_err(js)
}

/// The object applied the KV writes its answer names (and forgot them in its isolate); this
/// isolate may have cached the old answers, so it forgets them too.
pub(crate) fn forget_written(
    mut response: Response,
    settings: &Settings,
) -> std::result::Result<Response, Error> {
    let written = response.headers().get(WRITTEN_HEADER).ok().flatten();
    if let Some(written) = written {
        let cache = &settings.cache;
        if written == "*" {
            cache.clear();
        } else {
            written.split(',').for_each(|k| cache.forget(k));
        }
        // A copy: the headers of a fetched response are immutable.
        let headers = response.headers().clone();
        headers.delete(WRITTEN_HEADER).map_err(js)?;
        response = response.with_headers(headers);
    }
    Ok(response)
}

/// Reads a request body through [`BodyCollector`]: 413 as soon as it passes the limit,
/// whatever `Content-Length` said (or whether there was one).
pub(crate) async fn read_body(req: &mut Request) -> std::result::Result<Vec<u8>, Error> {
    let mut body = BodyCollector::new();
    if req.inner().body().is_none() {
        return Ok(body.finish());
    }
    // A body that breaks off (the client went away) is the client's error, not ours: a 400
    // with no error log.
    let broken =
        |e: worker::Error| Error::invalid(format!("the request body could not be read: {e}"));
    let mut stream = req.stream().map_err(broken)?;
    while let Some(chunk) = stream.next().await {
        body.push(&chunk.map_err(broken)?)?;
    }
    Ok(body.finish())
}

/// The Workers rate-limiting binding, keyed by client address.
struct Binding(RateLimiter);

thread_local! {
    /// When this isolate last logged a failing limiter: once a minute, not once per key.
    static LIMITER_WARNED: std::cell::Cell<i64> = const { std::cell::Cell::new(i64::MIN) };
}

impl Limiter for Binding {
    async fn allow(&self, client: &str) -> bool {
        match self.0.limit(client.to_owned()).await {
            Ok(outcome) => outcome.success,
            Err(e) => {
                let now = now();
                if LIMITER_WARNED.get().saturating_add(60_000) <= now {
                    LIMITER_WARNED.set(now);
                    console_warn!(
                        "keyward: {}: {e}; unknown keys are not limited meanwhile",
                        bindings::UNKNOWN_KEY_LIMIT
                    );
                }
                true
            }
        }
    }
}

/// Sends a developer-API request to the object named `name` (a bucket, or the directory),
/// with `extra` headers (a verified end user), and answers with what it answers.
pub(crate) async fn to_object(
    env: &Env,
    name: &str,
    req: &ApiRequest,
    extra: &[(&str, &str)],
) -> std::result::Result<Response, Error> {
    let stub = env
        .durable_object(bindings::BUCKETS)
        .and_then(|ns| ns.id_from_name(name)?.get_stub())
        .map_err(js)?;
    let headers = Headers::new();
    if let Some(a) = &req.authorization {
        headers.set("authorization", a).map_err(js)?;
    }
    if let Some(p) = &req.prefer {
        headers.set("prefer", p).map_err(js)?;
    }
    if name != DIRECTORY {
        headers.set(BUCKET_HEADER, name).map_err(js)?;
    }
    let target = if req.query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.query)
    };
    headers.set(PATH_HEADER, &target).map_err(js)?;
    for (name, value) in extra {
        headers.set(name, value).map_err(js)?;
    }
    let method = Method::from(req.method.clone());
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if !req.body.is_empty() {
        init.with_body(Some(js_sys_bytes(&req.body)));
    }
    let outbound = Request::new_with_init(API_URL, &init).map_err(js)?;
    stub.fetch_with_request(outbound).await.map_err(js)
}

fn js_sys_bytes(bytes: &[u8]) -> worker::wasm_bindgen::JsValue {
    worker::js_sys::Uint8Array::from(bytes).into()
}

async fn edge(
    req: Request,
    state: &State,
    env: &Env,
    ctx: &Context,
    url: &worker::Url,
) -> std::result::Result<Response, Error> {
    // workers-rs reads a method it does not know (PROPFIND, PURGE) as GET; forwarding (and
    // signing) it as one would be a lie, so it is refused.
    if !req
        .inner()
        .method()
        .eq_ignore_ascii_case(req.method().as_ref())
    {
        return refuse(&req, problem::response(405, None)).await;
    }
    let settings = &state.settings;
    let config = &settings.config;
    let header = req.headers().get(&config.auth_header).ok().flatten();
    let verifier = Verifier {
        store: &state.kv,
        hasher: &settings.hasher,
        cache: &settings.cache,
        bucket: &config.bucket,
        prefix: &config.key_prefix,
        imported: config.imported_key_pattern.as_ref(),
    };
    let query = url.query().unwrap_or("");
    let now = now();
    // Set by Cloudflare's edge (clients cannot choose it there); without a readable one the
    // request is not limited rather than counted with every other such request.
    let client = req
        .headers()
        .get("cf-connecting-ip")
        .ok()
        .flatten()
        .and_then(|ip| throttle::client_key(&ip));
    let limiter = env.rate_limiter(bindings::UNKNOWN_KEY_LIMIT).ok();
    let decision = match (limiter, client) {
        (Some(limiter), Some(client)) => {
            let gate = PerClient {
                limiter: &Binding(limiter),
                blocklist: &settings.blocklist,
                client: &client,
            };
            gateway::decide(config, &verifier, &gate, header.as_deref(), query, now).await?
        }
        _ => {
            gateway::decide(
                config,
                &verifier,
                &throttle::Open,
                header.as_deref(),
                query,
                now,
            )
            .await?
        }
    };
    let (identity, credential) = match decision {
        Decision::Reject(r) => return refuse(&req, r).await,
        Decision::Pass {
            identity,
            credential,
        } => (identity, credential),
    };
    // The consumer's limits: `RateLimit` headers for the answer, or a 429 instead of it.
    let mut limit_headers = Vec::new();
    if let Some(record) = &identity {
        let consumer = Consumer {
            bucket: config.bucket.clone(),
            name: record.consumer.clone(),
        };
        let limits = Limits::of(&record.metadata, &config.limits.defaults);
        let counters = ObjectCounters { env: env.clone() };
        let leases = crate::state::leases();
        let outcome = leases
            .admit(
                &counters,
                &consumer,
                &record.key_id,
                &limits,
                config.limits.fail,
                &crate::state::now,
            )
            .await;
        // What this isolate owes consumers' objects (usage, unspent leases), sent after
        // the answer.
        for (owner, ask) in leases.due(crate::state::now()) {
            let counters = ObjectCounters { env: env.clone() };
            let leases = leases.clone();
            ctx.wait_until(async move {
                if let Err(e) = counters.ask(&owner, &ask).await {
                    if leases.warn_background(crate::state::now()) {
                        console_warn!("keyward: usage of '{}' not recorded: {e}", owner.name);
                    }
                }
            });
        }
        match outcome {
            Outcome::Refuse { response, warn } => {
                if let Some(w) = warn {
                    console_warn!("keyward: {w}");
                }
                return refuse(&req, response).await;
            }
            Outcome::Admit { headers, warn } => {
                if let Some(w) = warn {
                    console_warn!("keyward: {w}");
                }
                limit_headers = headers;
            }
        }
    }
    let Some(upstream) = &config.upstream_url else {
        let mut answer = gateway::local_response(identity.as_deref());
        answer.headers.extend(limit_headers);
        return respond(answer).map_err(js);
    };
    let mut target = worker::Url::parse(&format!("{upstream}{}", url.path()))
        .map_err(|e| Error::new(ErrorKind::Config, format!("UPSTREAM_URL: {e}")))?;
    let forwarded_query = gateway::forward_query(config, credential, query);
    target.set_query((!forwarded_query.is_empty()).then_some(forwarded_query.as_str()));
    let headers = Headers::new();
    for (name, value) in gateway::forward_headers(
        config,
        credential,
        req.headers().entries(),
        identity.as_deref(),
    ) {
        headers.append(&name, &value).map_err(js)?;
    }
    let method = req.method();
    if let Some(signer) = &settings.signer {
        // What the upstream reads as the request target: path, and the query when there is one.
        let request_target = match target.query() {
            Some(q) => format!("{}?{q}", target.path()),
            None => target.path().to_owned(),
        };
        for (name, value) in
            signer.headers(now, method.as_ref(), &request_target, identity.as_deref())
        {
            headers.set(name, &value).map_err(js)?;
        }
    }
    let mut init = RequestInit::new();
    // The upstream's redirects go to the client as they are: following them here would send
    // the identity headers and the client's cookies to wherever they point.
    init.with_method(method.clone())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if !matches!(method, Method::Get | Method::Head) {
        init.with_body(req.inner().body().map(Into::into));
    }
    let outbound = Request::new_with_init(target.as_str(), &init).map_err(js)?;
    match Fetch::Request(outbound).send().await {
        Ok(r) if limit_headers.is_empty() => Ok(r),
        Ok(r) => {
            // A copy: the headers of a fetched response are immutable. Appended: an upstream's
            // own RateLimit fields stay (both are lists).
            let headers = r.headers().clone();
            for (name, value) in &limit_headers {
                headers.append(name, value).map_err(js)?;
            }
            Ok(r.with_headers(headers))
        }
        Err(e) => {
            console_error!("keyward: upstream fetch failed: {e}");
            respond(problem::response(
                502,
                Some("the upstream did not answer".into()),
            ))
            .map_err(js)
        }
    }
}

pub(crate) fn js(e: worker::Error) -> Error {
    Error::new(ErrorKind::Storage, format!("runtime: {e}"))
}

/// Turns core's response into a workers-rs one.
pub fn respond(r: ApiResponse) -> Result<Response> {
    let mut response = if r.body.is_empty() {
        Response::empty()?
    } else {
        Response::from_bytes(r.body)?
    };
    response = response.with_status(r.status);
    let headers = response.headers_mut();
    if let Some(ct) = r.content_type {
        headers.set("content-type", ct)?;
    }
    for (name, value) in &r.headers {
        headers.set(name, value)?;
    }
    Ok(response)
}
