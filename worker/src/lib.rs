//! keyward's Cloudflare Worker: a thin adapter from workers-rs to keyward-core.
//!
//! The entry point builds the per-deployment state from `env` and hands the request to
//! [`app::handle`]. Nothing here decides anything about keys: verification, the developer
//! API and their errors live in keyward-core and are tested natively there.

mod app;
mod bindings;
mod bucket_object;
mod kv_store;
mod leaks;
mod limiter;
mod portal;
mod random;
mod sql_storage;
mod state;

use worker::{event, Context, Env, Request, Response, Result};

/// Once per isolate: e-mail addresses are NFC-normalized with the runtime's own Unicode
/// tables (core's `nfc` feature would add them to the bundle), and `IMPORTED_KEY_PATTERN`
/// is compiled by the runtime's `RegExp` (the regex crate would add to the bundle too).
#[event(start)]
fn start() {
    keyward_core::validate::set_nfc(|s| worker::js_sys::JsString::from(s).normalize("NFC").into());
    keyward_core::key::imported::set_compiler(state::lite_regex);
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    app::handle(req, &env, &ctx).await
}
