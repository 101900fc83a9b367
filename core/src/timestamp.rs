//! Timestamps: milliseconds since the Unix epoch inside keyward, RFC 3339 on the wire.
//!
//! Records store integers (compact, cheap to compare on the hot path); the developer API
//! speaks RFC 3339 like Zuplo's (`2026-11-26T05:40:00.000Z`).

use crate::error::Error;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Millis = i64;

/// Formats `ms` as RFC 3339 in UTC with millisecond precision.
///
/// ```
/// assert_eq!(keyward_core::timestamp::format(0), "1970-01-01T00:00:00.000Z");
/// ```
pub fn format(ms: Millis) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return String::from("invalid-time");
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Parses an RFC 3339 date-time (any offset) into milliseconds.
pub fn parse(text: &str) -> Result<Millis, Error> {
    let t = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        Error::invalid(format!(
            "'{text}' is not an RFC 3339 date-time; use e.g. 2026-12-31T23:59:59Z"
        ))
    })?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| Error::invalid(format!("'{text}' is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let ms = 1_795_000_000_123;
        assert_eq!(parse(&format(ms)), Ok(ms));
        assert_eq!(
            parse("2026-11-26T06:00:00+01:00"),
            parse("2026-11-26T05:00:00Z")
        );
        assert!(parse("tomorrow").is_err());
    }
}
