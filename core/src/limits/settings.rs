//! The deployment's limit settings (Worker variables), read beside [`crate::config::Config`]:
//!
//! - `RATE_LIMIT_DEFAULT`: a `rateLimit` (the metadata's JSON) for consumers without one;
//!   unset = unlimited.
//! - `QUOTA_DEFAULT`: a `quota` for consumers without one; unset = none.
//! - `RATE_LIMIT_FAIL`: `open` (default: admit, and log) or `closed` (503) when a
//!   consumer's object cannot be reached.

use super::policy::{self, Limits};
use crate::error::{Error, ErrorKind};

/// Variable names.
pub mod vars {
    /// A `rateLimit` for consumers without one.
    pub const RATE_LIMIT_DEFAULT: &str = "RATE_LIMIT_DEFAULT";
    /// A `quota` for consumers without one.
    pub const QUOTA_DEFAULT: &str = "QUOTA_DEFAULT";
    /// `open` or `closed`.
    pub const RATE_LIMIT_FAIL: &str = "RATE_LIMIT_FAIL";
}

/// What happens to a limited consumer's request when its object cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fail {
    /// Admit it (and log, once a minute).
    #[default]
    Open,
    /// 503.
    Closed,
}

/// The limit settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Settings {
    /// For consumers whose metadata sets none.
    pub defaults: Limits,
    /// `RATE_LIMIT_FAIL`.
    pub fail: Fail,
}

fn bad(var: &str, why: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Config, format!("variable {var}: {why}"))
}

impl Settings {
    /// Reads the settings through `lookup` (empty values count as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, Error> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let json = |name: &str, v: &str| -> Result<serde_json::Value, Error> {
            serde_json::from_str(v).map_err(|_| {
                bad(
                    name,
                    "use JSON, e.g. {\"requestsPerMinute\": 600} or {\"requests\": 10000, \"period\": \"month\"}",
                )
            })
        };
        let mut s = Settings::default();
        if let Some(v) = get(vars::RATE_LIMIT_DEFAULT) {
            let value = json(vars::RATE_LIMIT_DEFAULT, &v)?;
            s.defaults.rate = Some(
                policy::rate_limit(&value).map_err(|e| bad(vars::RATE_LIMIT_DEFAULT, e.message))?,
            );
        }
        if let Some(v) = get(vars::QUOTA_DEFAULT) {
            let value = json(vars::QUOTA_DEFAULT, &v)?;
            s.defaults.quota =
                Some(policy::quota(&value).map_err(|e| bad(vars::QUOTA_DEFAULT, e.message))?);
        }
        if let Some(v) = get(vars::RATE_LIMIT_FAIL) {
            s.fail = match v.as_str() {
                "open" => Fail::Open,
                "closed" => Fail::Closed,
                _ => return Err(bad(vars::RATE_LIMIT_FAIL, "use open or closed")),
            };
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Settings, Error> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_and_failure_mode_are_read_and_bad_values_name_the_variable() {
        assert_eq!(from(&[]).unwrap(), Settings::default());
        let s = from(&[
            ("RATE_LIMIT_DEFAULT", r#"{"requestsPerMinute": 600}"#),
            ("QUOTA_DEFAULT", r#"{"requests": 10000, "period": "month"}"#),
            ("RATE_LIMIT_FAIL", "closed"),
        ])
        .unwrap();
        assert_eq!(s.defaults.rate.unwrap().requests, 600);
        assert_eq!(s.defaults.quota.unwrap().requests, 10_000);
        assert_eq!(s.fail, Fail::Closed);
        for (var, value, says) in [
            ("RATE_LIMIT_DEFAULT", "600", "must be an object"),
            ("RATE_LIMIT_DEFAULT", "{600", "use JSON"),
            (
                "QUOTA_DEFAULT",
                r#"{"requests": 5, "period": "week"}"#,
                "day or month",
            ),
            ("RATE_LIMIT_FAIL", "maybe", "open or closed"),
        ] {
            let e = from(&[(var, value)]).unwrap_err().to_string();
            assert!(e.contains(var) && e.contains(says), "{e}");
        }
    }
}
