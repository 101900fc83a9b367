//! What a consumer may spend, read from its metadata (so `keys.yaml`, the developer API and
//! sync carry it with no new field): `rateLimit` and `quota`, or the deployment's defaults
//! (`RATE_LIMIT_DEFAULT`, `QUOTA_DEFAULT`, the same JSON).
//!
//! - `rateLimit: {requestsPerMinute: N}` or `{requests: N, periodSeconds: S}` (S from 1 to
//!   3600): at most N requests in any sliding window of S seconds.
//! - `quota: {requests: N, period: day | month}`: at most N requests per calendar day or month
//!   in UTC.
//!
//! N and S are whole numbers; one written with a zero fraction (`600.0`, as YAML and JSON
//! allow) is that number. [`check_metadata`] is the rule on a metadata object: the developer
//! API and `keys.yaml` apply it through [`crate::validate::metadata`].
//!
//! A shared module, importing nothing of the crate: `validate` applies its rule, and the
//! limiter (`limits`, which re-exports it as `limits::policy`) reads a consumer's limits with
//! it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// The longest rate-limit window, in seconds.
pub const MAX_PERIOD_SECONDS: u64 = 3600;

/// The most requests a rate limit or quota may allow (beyond it, leave the field out).
pub const MAX_REQUESTS: u64 = 1_000_000_000;

/// At most `requests` in any sliding window of `period_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Requests allowed per window (≥ 1).
    pub requests: u64,
    /// The window, 1 s to 1 h, in milliseconds.
    pub period_ms: i64,
}

/// A calendar period in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// From 00:00 UTC to the next.
    Day,
    /// From the first of the month, 00:00 UTC, to the next first.
    Month,
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Period::Day => "day",
            Period::Month => "month",
        })
    }
}

/// `30 requests per 60 s`: how messages and the CLI name a rate limit.
impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Periods are whole seconds (`periodSeconds`, or a minute).
        write!(
            f,
            "{} requests per {} s",
            self.requests,
            self.period_ms / 1000
        )
    }
}

/// At most `requests` per calendar `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// Requests allowed per period (≥ 1).
    pub requests: u64,
    /// The period.
    pub period: Period,
}

/// A consumer's limits; `None` = unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Limits {
    /// `rateLimit`.
    pub rate: Option<RateLimit>,
    /// `quota`.
    pub quota: Option<Quota>,
}

/// Why a `rateLimit` or `quota` value is not one: the field and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// `rateLimit` or `quota`.
    pub field: &'static str,
    /// Where in the field's value the fault is (`keys.yaml` diagnostics point there).
    pub at: Fault,
    /// What is wrong and what to write.
    pub message: String,
}

/// Where in a `rateLimit` or `quota` value a [`PolicyError`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The value as a whole: not an object, or a field missing from it.
    Value,
    /// The value of this field of it (`requestsPerMinute`, `periodSeconds`, `period`, …).
    Field(&'static str),
    /// This field of it, which is none of the known ones.
    Unknown(String),
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "metadata.{}: {}", self.field, self.message)
    }
}

impl std::error::Error for PolicyError {}

/// A whole number, also when written as one with a fraction of zero (`600.0`: YAML reads it
/// as a float, and so does `serde_json` from a JSON body); `1.5` is none.
fn whole(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        // Below 2^53 every whole f64 is exact, and `as` cannot saturate or round.
        let f = v.as_f64()?;
        (f.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&f)).then_some(f as u64)
    })
}

/// Where a missing or present field's fault is.
fn fault(v: Option<&Value>, name: &'static str) -> Fault {
    match v {
        Some(_) => Fault::Field(name),
        None => Fault::Value,
    }
}

fn count(v: Option<&Value>, name: &'static str, field: &'static str) -> Result<u64, PolicyError> {
    v.and_then(whole)
        .filter(|n| (1..=MAX_REQUESTS).contains(n))
        .ok_or_else(|| PolicyError {
            field,
            at: fault(v, name),
            message: format!("{name} must be a whole number from 1 to {MAX_REQUESTS}"),
        })
}

fn only(
    obj: &Map<String, Value>,
    allowed: &[&str],
    field: &'static str,
) -> Result<(), PolicyError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(PolicyError {
            field,
            at: Fault::Unknown(k.clone()),
            message: format!(
                "unknown field '{}'; use {}",
                k.chars().take(40).collect::<String>(),
                allowed.join(" or ")
            ),
        }),
        None => Ok(()),
    }
}

/// Reads a `rateLimit` value.
pub fn rate_limit(v: &Value) -> Result<RateLimit, PolicyError> {
    const F: &str = "rateLimit";
    let obj = v.as_object().ok_or_else(|| PolicyError {
        field: F,
        at: Fault::Value,
        message: "must be an object: {requestsPerMinute: N} or {requests: N, periodSeconds: S}"
            .into(),
    })?;
    if obj.contains_key("requestsPerMinute") {
        only(obj, &["requestsPerMinute"], F)?;
        let requests = count(obj.get("requestsPerMinute"), "requestsPerMinute", F)?;
        return Ok(RateLimit {
            requests,
            period_ms: 60_000,
        });
    }
    only(obj, &["requests", "periodSeconds"], F)?;
    let requests = count(obj.get("requests"), "requests", F)?;
    let period = obj.get("periodSeconds");
    let seconds = period
        .and_then(whole)
        .filter(|s| (1..=MAX_PERIOD_SECONDS).contains(s))
        .ok_or_else(|| PolicyError {
            field: F,
            at: fault(period, "periodSeconds"),
            message: format!("periodSeconds must be a whole number from 1 to {MAX_PERIOD_SECONDS}"),
        })?;
    Ok(RateLimit {
        requests,
        period_ms: seconds as i64 * 1000,
    })
}

/// Reads a `quota` value.
pub fn quota(v: &Value) -> Result<Quota, PolicyError> {
    const F: &str = "quota";
    let obj = v.as_object().ok_or_else(|| PolicyError {
        field: F,
        at: Fault::Value,
        message: "must be an object: {requests: N, period: day} or {requests: N, period: month}"
            .into(),
    })?;
    only(obj, &["requests", "period"], F)?;
    let requests = count(obj.get("requests"), "requests", F)?;
    let given = obj.get("period");
    let period = match given.and_then(Value::as_str) {
        Some("day") => Period::Day,
        Some("month") => Period::Month,
        _ => {
            return Err(PolicyError {
                field: F,
                at: fault(given, "period"),
                message: "period must be day or month (calendar periods in UTC)".into(),
            })
        }
    };
    Ok(Quota { requests, period })
}

/// Checks the `rateLimit` and `quota` of a metadata object, if present, and answers every
/// one that is not a limit keyward can read, in that order (part of
/// [`crate::validate::metadata`], which `keyward validate` and the developer API apply).
pub fn check_metadata(metadata: &Map<String, Value>) -> Result<(), Vec<PolicyError>> {
    let errors: Vec<PolicyError> = [
        metadata.get("rateLimit").and_then(|v| rate_limit(v).err()),
        metadata.get("quota").and_then(|v| quota(v).err()),
    ]
    .into_iter()
    .flatten()
    .collect();
    match errors.is_empty() {
        true => Ok(()),
        false => Err(errors),
    }
}

impl Limits {
    /// A rate limit of `n` requests per minute, and no quota.
    pub fn per_minute(n: u64) -> Limits {
        Limits {
            rate: Some(RateLimit {
                requests: n,
                period_ms: 60_000,
            }),
            quota: None,
        }
    }

    /// A quota of `n` requests per `period`, and no rate limit.
    pub fn quota_of(n: u64, period: Period) -> Limits {
        Limits {
            rate: None,
            quota: Some(Quota {
                requests: n,
                period,
            }),
        }
    }

    /// `30 requests per 60 s; quota 50 per day (UTC)`, or `None` when unlimited.
    pub fn describe(&self) -> Option<String> {
        let parts: Vec<String> = self
            .rate
            .map(|r| r.to_string())
            .into_iter()
            .chain(
                self.quota
                    .map(|q| format!("quota {} per {} (UTC)", q.requests, q.period)),
            )
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// A consumer's limits: its metadata's, else `defaults`' (field by field). A value that
    /// is not one falls back to the default too (the API refuses such metadata; an old
    /// record may still hold one).
    pub fn of(metadata: &Map<String, Value>, defaults: &Limits) -> Limits {
        Limits {
            rate: metadata
                .get("rateLimit")
                .and_then(|v| rate_limit(v).ok())
                .or(defaults.rate),
            quota: metadata
                .get("quota")
                .and_then(|v| quota(v).ok())
                .or(defaults.quota),
        }
    }

    /// Whether there is nothing to enforce.
    pub fn is_unlimited(&self) -> bool {
        self.rate.is_none() && self.quota.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn both_forms_of_a_rate_limit_and_a_quota_are_read() {
        assert_eq!(
            rate_limit(&json!({"requestsPerMinute": 30})).unwrap(),
            RateLimit {
                requests: 30,
                period_ms: 60_000
            }
        );
        assert_eq!(
            rate_limit(&json!({"requests": 5, "periodSeconds": 1})).unwrap(),
            RateLimit {
                requests: 5,
                period_ms: 1000
            }
        );
        assert_eq!(
            quota(&json!({"requests": 50, "period": "day"})).unwrap(),
            Quota {
                requests: 50,
                period: Period::Day
            }
        );
    }

    #[test]
    fn bad_shapes_say_what_to_write() {
        for (v, says) in [
            (json!(30), "must be an object"),
            (json!({"requestsPerMinute": 0}), "from 1 to"),
            (json!({"requestsPerMinute": 1.5}), "whole number"),
            (
                json!({"requestsPerMinute": 10, "burst": 2}),
                "unknown field 'burst'",
            ),
            (
                json!({"requests": 10, "periodSeconds": 7200}),
                "periodSeconds",
            ),
            (json!({"requests": 10}), "periodSeconds"),
        ] {
            let e = rate_limit(&v).unwrap_err().to_string();
            assert!(e.contains(says), "{v}: {e}");
            assert!(e.starts_with("metadata.rateLimit: "), "{e}");
        }
        for (v, says) in [
            (json!({"requests": 50, "period": "week"}), "day or month"),
            (json!({"requests": -1, "period": "day"}), "whole number"),
            (json!("50/day"), "must be an object"),
        ] {
            let e = quota(&v).unwrap_err().to_string();
            assert!(e.contains(says), "{v}: {e}");
        }
        assert!(check_metadata(&meta(json!({"plan": "gold"}))).is_ok());
        assert!(check_metadata(&meta(json!({"quota": {"requests": 1}}))).is_err());
        let both = check_metadata(&meta(json!({"quota": 5, "rateLimit": 5}))).unwrap_err();
        let fields: Vec<_> = both.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["rateLimit", "quota"]);
    }

    #[test]
    fn whole_numbers_written_with_a_zero_fraction_are_those_numbers() {
        for (v, requests, period_ms) in [
            (json!({"requestsPerMinute": 600.0}), 600, 60_000),
            (json!({"requests": 5e1, "periodSeconds": 60.0}), 50, 60_000),
        ] {
            let got = rate_limit(&v).unwrap();
            assert_eq!((got.requests, got.period_ms), (requests, period_ms), "{v}");
        }
        assert_eq!(
            quota(&json!({"requests": 1000.0, "period": "month"}))
                .unwrap()
                .requests,
            1000
        );
        // From a JSON body too: serde_json reads `600.0` as a float.
        let body: Value = serde_json::from_str(r#"{"requestsPerMinute": 600.0}"#).unwrap();
        assert_eq!(rate_limit(&body).unwrap().requests, 600);
        for bad in [
            json!({"requestsPerMinute": 600.5}),
            json!({"requestsPerMinute": 0.0}),
            json!({"requestsPerMinute": -600.0}),
            json!({"requestsPerMinute": 1e10}),
            json!({"requestsPerMinute": 1e300}),
            json!({"requests": 5, "periodSeconds": 0.5}),
        ] {
            assert!(rate_limit(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_say_where_in_the_value_the_fault_is() {
        let at = |v: Value| rate_limit(&v).unwrap_err().at;
        assert_eq!(at(json!(30)), Fault::Value);
        assert_eq!(at(json!({"requests": 10})), Fault::Value);
        assert_eq!(
            at(json!({"requestsPerMinute": "600"})),
            Fault::Field("requestsPerMinute")
        );
        assert_eq!(
            at(json!({"requests": 10, "periodSeconds": 7200})),
            Fault::Field("periodSeconds")
        );
        assert_eq!(
            at(json!({"requestsPerMinute": 10, "burst": 2})),
            Fault::Unknown("burst".into())
        );
        let at = |v: Value| quota(&v).unwrap_err().at;
        assert_eq!(at(json!({"requests": 5})), Fault::Value);
        assert_eq!(
            at(json!({"requests": 5, "period": "week"})),
            Fault::Field("period")
        );
        assert_eq!(
            at(json!({"requests": 0, "period": "day"})),
            Fault::Field("requests")
        );
    }

    #[test]
    fn metadata_wins_over_defaults_field_by_field() {
        let defaults = Limits {
            rate: Some(RateLimit {
                requests: 600,
                period_ms: 60_000,
            }),
            quota: Some(Quota {
                requests: 10_000,
                period: Period::Month,
            }),
        };
        let l = Limits::of(
            &meta(json!({"rateLimit": {"requestsPerMinute": 30}})),
            &defaults,
        );
        assert_eq!(l.rate.unwrap().requests, 30);
        assert_eq!(l.quota, defaults.quota);
        assert!(Limits::of(&Map::new(), &Limits::default()).is_unlimited());
    }
}
