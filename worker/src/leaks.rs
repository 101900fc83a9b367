//! The leak routes in the Worker's front (`POST /v1/keys/$lookup`, `POST /v1/leaks`): reads
//! GitHub's signature headers and the raw body once, hands both to keyward-core, and carries
//! its calls to the directory and the bucket objects (`keyward_core::api::leaks::Objects`).
//! Everything decided about keys is in core; the plaintexts never leave it.

use crate::app::{forget_written, js, read_body, refuse, respond};
use crate::bindings;
use crate::bucket_object::{BUCKET_HEADER, DIRECTORY, LEAKS_URL};
use crate::state::{Settings, State};
use keyward_core::api::leaks::{Objects, Route, Signed};
use keyward_core::api::Api;
use keyward_core::http::ApiRequest;
use keyward_core::storage::bucket::sql::NoSql;
use keyward_core::{problem, Error, ErrorKind};
use worker::{console_error, Env, Headers, Method, Request, RequestInit, Response};

/// GitHub's secret-scanning headers.
const KEY_IDENTIFIER_HEADER: &str = "github-public-key-identifier";
const SIGNATURE_HEADER: &str = "github-public-key-signature";

/// Answers a leak request.
pub(crate) async fn serve(
    mut req: Request,
    api: &Api<'_, crate::kv_store::Kv, NoSql>,
    mut api_req: ApiRequest,
    route: Route,
    state: &State,
    env: &Env,
) -> Result<Response, Error> {
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let (identifier, signature) = (header(KEY_IDENTIFIER_HEADER), header(SIGNATURE_HEADER));
    let signed =
        identifier
            .as_deref()
            .zip(signature.as_deref())
            .map(|(key_identifier, signature)| Signed {
                key_identifier,
                signature,
            });
    let settings = &state.settings;
    let github = settings.leak_keys.as_ref();
    let log = |e: &Error| console_error!("keyward: leaks: {e}");
    if let Some(answer) = api.leaks_before_body(&api_req, route, signed, github, log) {
        return refuse(&req, answer).await;
    }
    if !matches!(api_req.method.as_str(), "GET" | "HEAD" | "DELETE") {
        // Read once: the signature is checked against these very bytes, and the JSON read
        // from them.
        match read_body(&mut req).await {
            Ok(body) => api_req.body = body,
            Err(e) if e.kind() == ErrorKind::TooLarge => {
                return respond(problem::from_error(&e)).map_err(js)
            }
            Err(e) => return Err(e),
        }
    }
    let objects = ObjectCalls { env, settings };
    let response = api
        .handle_leaks(&api_req, route, signed, github, &objects, log)
        .await;
    respond(response).map_err(js)
}

/// Calls over the Durable Object stubs.
struct ObjectCalls<'a> {
    env: &'a Env,
    settings: &'a Settings,
}

impl Objects for ObjectCalls<'_> {
    async fn call(&self, bucket: Option<&str>, body: Vec<u8>) -> Result<Vec<u8>, Error> {
        let name = bucket.unwrap_or(DIRECTORY);
        let stub = self
            .env
            .durable_object(bindings::BUCKETS)
            .and_then(|ns| ns.id_from_name(name)?.get_stub())
            .map_err(js)?;
        let headers = Headers::new();
        if let Some(b) = bucket {
            headers.set(BUCKET_HEADER, b).map_err(js)?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(
                worker::js_sys::Uint8Array::from(body.as_slice()).into(),
            ));
        let outbound = Request::new_with_init(LEAKS_URL, &init).map_err(js)?;
        let response = stub.fetch_with_request(outbound).await.map_err(js)?;
        // A revocation's KV writes were applied by the object; this isolate forgets them too,
        // so the gateway here refuses the key at once.
        let mut response = forget_written(response, self.settings)?;
        let status = response.status_code();
        if status != 200 {
            return Err(Error::storage(format!(
                "leak call: the object of {name} answered {status}"
            )));
        }
        response.bytes().await.map_err(js)
    }
}
