//! What a consumer may spend, read from its metadata (so `keys.yaml`, the developer API and
//! sync carry it with no new field): `rateLimit` and `quota`, or the deployment's defaults
//! (`RATE_LIMIT_DEFAULT`, `QUOTA_DEFAULT`, the same JSON).
//!
//! - `rateLimit: {requestsPerMinute: N}` or `{requests: N, periodSeconds: S}` (S from 1 to
//!   3600): at most N requests in any sliding window of S seconds.
//! - `quota: {requests: N, period: day | month}`: at most N requests per calendar day or month
//!   in UTC.

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
    /// What is wrong and what to write.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "metadata.{}: {}", self.field, self.message)
    }
}

impl std::error::Error for PolicyError {}

fn count(v: Option<&Value>, name: &str, field: &'static str) -> Result<u64, PolicyError> {
    let bad = || PolicyError {
        field,
        message: format!("{name} must be a whole number from 1 to {MAX_REQUESTS}"),
    };
    let n = v.and_then(Value::as_u64).ok_or_else(bad)?;
    if n == 0 || n > MAX_REQUESTS {
        return Err(bad());
    }
    Ok(n)
}

fn only(
    obj: &Map<String, Value>,
    allowed: &[&str],
    field: &'static str,
) -> Result<(), PolicyError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(PolicyError {
            field,
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
    let seconds = obj
        .get("periodSeconds")
        .and_then(Value::as_u64)
        .filter(|s| (1..=MAX_PERIOD_SECONDS).contains(s))
        .ok_or_else(|| PolicyError {
            field: F,
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
        message: "must be an object: {requests: N, period: day} or {requests: N, period: month}"
            .into(),
    })?;
    only(obj, &["requests", "period"], F)?;
    let requests = count(obj.get("requests"), "requests", F)?;
    let period = match obj.get("period").and_then(Value::as_str) {
        Some("day") => Period::Day,
        Some("month") => Period::Month,
        _ => {
            return Err(PolicyError {
                field: F,
                message: "period must be day or month (calendar periods in UTC)".into(),
            })
        }
    };
    Ok(Quota { requests, period })
}

/// Checks the `rateLimit` and `quota` of a metadata object, if present (`keyward validate`
/// and the developer API apply the same rule).
pub fn check_metadata(metadata: &Map<String, Value>) -> Result<(), PolicyError> {
    if let Some(v) = metadata.get("rateLimit") {
        rate_limit(v)?;
    }
    if let Some(v) = metadata.get("quota") {
        quota(v)?;
    }
    Ok(())
}

impl Limits {
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
