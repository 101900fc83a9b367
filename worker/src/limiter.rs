//! The limits object: a SQLite-backed Durable Object per consumer (named
//! `{bucket}/{consumer}`) that holds the consumer's rate-limit window, quota and key usage.
//! Everything it decides is `keyward_core::limits::object`; this file hands it the object's
//! SQL and clock. [`ObjectCounters`] is the isolates' way to it.

use crate::app::respond;
use crate::bindings;
use crate::sql_storage::ObjectSql;
use crate::state::now;
use futures_util::future::{select, Either};
use keyward_core::limits::object;
use keyward_core::limits::wire::{
    Answer, Ask, Call, Consumer, Counters, Pending, Usage, UsageQuery,
};
use keyward_core::{problem, Error, ErrorKind};
use std::cell::Cell;
use std::time::Duration;
use worker::{
    console_error, durable_object, Delay, Env, Method, Request, RequestInit, Response, Result,
};

/// Where isolates send calls (objects ignore the host).
const CALL_URL: &str = "https://keyward-limits/call";
/// How long a call may take.
const CALL_TIMEOUT_MS: u64 = 2_000;

#[durable_object]
pub struct LimiterObject {
    state: worker::State,
    /// The tables exist (checked once per instance).
    ready: Cell<bool>,
}

impl LimiterObject {
    fn sql(&self) -> std::result::Result<ObjectSql, Error> {
        let sql = ObjectSql(self.state.storage().sql());
        if !self.ready.get() {
            object::ensure(&sql)?;
            self.ready.set(true);
        }
        Ok(sql)
    }

    async fn serve(&self, mut req: Request) -> std::result::Result<Response, Error> {
        let body = req.bytes().await.map_err(runtime)?;
        let out = object::handle(&self.sql()?, &body, now())?;
        let mut response = Response::from_bytes(out).map_err(runtime)?;
        response
            .headers_mut()
            .set("content-type", "application/json")
            .map_err(runtime)?;
        Ok(response)
    }
}

impl worker::DurableObject for LimiterObject {
    fn new(state: worker::State, _env: Env) -> Self {
        Self {
            state,
            ready: Cell::new(false),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        match self.serve(req).await {
            Ok(r) => Ok(r),
            Err(e) => {
                console_error!("keyward: limits object: {e}");
                respond(problem::from_error(&e))
            }
        }
    }
}

fn runtime(e: worker::Error) -> Error {
    Error::new(ErrorKind::Storage, format!("runtime: {e}"))
}

/// Consumers' limits objects, through the `KEYWARD_LIMITS` binding.
pub struct ObjectCounters {
    /// The Worker's bindings.
    pub env: Env,
}

impl ObjectCounters {
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        consumer: &Consumer,
        call: &Call,
    ) -> std::result::Result<T, Error> {
        let stub = self
            .env
            .durable_object(bindings::LIMITS)
            .and_then(|ns| ns.id_from_name(&consumer.object_name())?.get_stub())
            .map_err(runtime)?;
        let body = serde_json::to_vec(call)
            .map_err(|e| Error::new(ErrorKind::Storage, format!("limits call: {e}")))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(
            worker::js_sys::Uint8Array::from(body.as_slice()).into(),
        ));
        let request = Request::new_with_init(CALL_URL, &init).map_err(runtime)?;
        let exchange = async {
            let mut response = stub.fetch_with_request(request).await.map_err(runtime)?;
            let status = response.status_code();
            let bytes = response.bytes().await.map_err(runtime)?;
            Ok::<_, Error>((status, bytes))
        };
        // A slow object must not hold the request it limits: past the timeout,
        // RATE_LIMIT_FAIL decides.
        let timeout = Delay::from(Duration::from_millis(CALL_TIMEOUT_MS));
        let (status, bytes) = match select(Box::pin(exchange), Box::pin(timeout)).await {
            Either::Left((answer, _)) => answer?,
            Either::Right(_) => {
                return Err(Error::new(
                    ErrorKind::Storage,
                    format!("the limits object took more than {CALL_TIMEOUT_MS} ms"),
                ))
            }
        };
        if status != 200 {
            return Err(Error::new(
                ErrorKind::Storage,
                format!("limits object answered {status}"),
            ));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::new(ErrorKind::Storage, format!("limits object answer: {e}")))
    }
}

impl Counters for ObjectCounters {
    fn ask<'a>(&'a self, consumer: &'a Consumer, ask: &'a Ask) -> Pending<'a, Answer> {
        Box::pin(async move { self.call(consumer, &Call::Ask(ask.clone())).await })
    }

    fn usage<'a>(&'a self, consumer: &'a Consumer, query: UsageQuery) -> Pending<'a, Usage> {
        Box::pin(async move { self.call(consumer, &Call::Usage(query)).await })
    }
}
