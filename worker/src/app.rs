//! The request flow: keyward's own routes go to the developer API, everything else is
//! gateway traffic that must carry a valid key. Converts between workers-rs types and
//! keyward-core's, and forwards verified requests upstream.

use crate::bindings;
use crate::bucket_object::{API_URL, BUCKET_HEADER, DIRECTORY, PATH_HEADER, WRITTEN_HEADER};
use crate::random::WebCrypto;
use crate::state::{cache, now, State};
use keyward_core::api::token::Tokens;
use keyward_core::api::{Api, Target};
use keyward_core::edge::gateway::{self, Decision};
use keyward_core::edge::verify::Verifier;
use keyward_core::http::{self, ApiRequest, ApiResponse, MAX_BODY_BYTES};
use keyward_core::storage::bucket::sql::NoSql;
use keyward_core::{problem, Error, ErrorKind};
use worker::{
    console_error, Env, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response,
    Result,
};

/// The developer API's description, served at `{API_PREFIX}/openapi.json`.
const OPENAPI: &str = include_str!("../../schemas/openapi.json");

/// Handles one request.
pub async fn handle(req: Request, env: &Env) -> Result<Response> {
    let state = match State::from_env(env) {
        Ok(s) => s,
        Err(e) => {
            console_error!("keyward: configuration: {e}");
            return respond(problem::response(500, None));
        }
    };
    let url = req.url()?;
    let result = match state.config.own_path(url.path()) {
        Some(rest) => {
            let rest = rest.to_owned();
            api(req, &state, env, rest, url.query().unwrap_or("")).await
        }
        None => edge(req, &state, &url).await,
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
    let too_large = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES);
    if too_large {
        return respond(problem::from_error(&http::body_too_large())).map_err(js);
    }
    let body = match req.method() {
        Method::Get | Method::Head | Method::Delete => Vec::new(),
        _ => req.bytes().await.map_err(js)?,
    };
    // Health and the OpenAPI document need no token, so they answer even when the
    // management tokens cannot be read; every `/v1` request then fails, naming the secret.
    let no_tokens = Tokens::new(None);
    let tokens = match state.tokens() {
        Ok(t) => t,
        Err(e) if path.trim_start_matches('/').starts_with("v1") => {
            console_error!("keyward: configuration: {e}");
            return respond(problem::response(500, None)).map_err(js);
        }
        Err(_) => &no_tokens,
    };
    let api_req = ApiRequest {
        method: req.method().to_string().to_ascii_uppercase(),
        path,
        query: query.to_owned(),
        authorization: req.headers().get("authorization").ok().flatten(),
        prefer: req.headers().get("prefer").ok().flatten(),
        body,
    };
    let api = Api {
        store: &state.kv,
        sql: &NoSql,
        entropy: &WebCrypto,
        hasher: &state.hasher,
        cache: cache(&state.config),
        config: &state.config,
        tokens,
        now: now(),
        openapi: OPENAPI,
    };
    let object = match api.target(&api_req) {
        Target::Here => None,
        Target::Bucket(name) => Some(name),
        Target::Directory => Some(DIRECTORY.to_owned()),
    };
    if let Some(name) = object {
        let mut response = to_object(env, &name, &api_req).await?;
        // The object applied these KV writes (and forgot them in its isolate); this isolate
        // may have cached the old answers.
        let written = response.headers().get(WRITTEN_HEADER).ok().flatten();
        if let Some(written) = written {
            let cache = cache(&state.config);
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
        return Ok(response);
    }
    let response = api
        .handle_logged(&api_req, |e| console_error!("keyward: developer API: {e}"))
        .await;
    respond(response).map_err(js)
}

/// Sends a developer-API request to the object named `name` (a bucket, or the directory)
/// and answers with what it answers.
async fn to_object(
    env: &Env,
    name: &str,
    req: &ApiRequest,
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
    url: &worker::Url,
) -> std::result::Result<Response, Error> {
    let config = &state.config;
    let header = req.headers().get(&config.auth_header).ok().flatten();
    let verifier = Verifier {
        store: &state.kv,
        hasher: &state.hasher,
        cache: cache(config),
        bucket: &config.bucket,
        prefix: &config.key_prefix,
    };
    let decision = gateway::decide(
        config,
        &verifier,
        header.as_deref(),
        url.query().unwrap_or(""),
        now(),
    )
    .await?;
    let (identity, credential) = match decision {
        Decision::Reject(r) => return respond(r).map_err(js),
        Decision::Pass {
            identity,
            credential,
        } => (identity, credential),
    };
    let Some(upstream) = &config.upstream_url else {
        return respond(gateway::local_response(identity.as_deref())).map_err(js);
    };
    let mut target = worker::Url::parse(&format!("{upstream}{}", url.path()))
        .map_err(|e| Error::new(ErrorKind::Config, format!("UPSTREAM_URL: {e}")))?;
    let query = gateway::forward_query(config, credential, url.query().unwrap_or(""));
    target.set_query((!query.is_empty()).then_some(query.as_str()));
    let headers = Headers::new();
    for (name, value) in gateway::forward_headers(
        config,
        credential,
        req.headers().entries(),
        identity.as_deref(),
    ) {
        headers.append(&name, &value).map_err(js)?;
    }
    let mut init = RequestInit::new();
    // The upstream's redirects go to the client as they are: following them here would send
    // the identity headers and the client's cookies to wherever they point.
    init.with_method(req.method())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if !matches!(req.method(), Method::Get | Method::Head) {
        init.with_body(req.inner().body().map(Into::into));
    }
    let outbound = Request::new_with_init(target.as_str(), &init).map_err(js)?;
    match Fetch::Request(outbound).send().await {
        Ok(r) => Ok(r),
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

fn js(e: worker::Error) -> Error {
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
