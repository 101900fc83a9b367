//! Usage: `GET …/consumers/{name}/usage?from&to` (daily requests per key) and the keys'
//! `lastUsedOn`, both from the consumer's limits object ([`crate::limits::object`]).

use super::model::{DayOut, KeyUsageOut, UsageOut};
use super::query::Query;
use super::router::Api;
use crate::error::Error;
use crate::http::ApiResponse;
use crate::limits::object::USAGE_DAYS;
use crate::limits::wire::{Consumer, UsageQuery, DAY_MS};
use crate::storage::bucket::sql::Sql;
use crate::storage::store::Store;
use crate::timestamp::{self, Millis};
use std::collections::HashMap;

/// Days a usage answer covers when `from` is not given.
pub const DEFAULT_DAYS: i64 = 30;

fn day_of(text: &str, name: &str) -> Result<i64, Error> {
    let bad = || {
        Error::invalid(format!(
            "query parameter '{name}' must be a date such as 2026-11-30 (UTC)"
        ))
    };
    if text.len() != 10 {
        return Err(bad());
    }
    let ms = timestamp::parse(&format!("{text}T00:00:00Z")).map_err(|_| bad())?;
    // Nothing was counted before 1970; a date before it would print as a negative year.
    Ok(ms.div_euclid(DAY_MS).max(0))
}

fn date(day: i64) -> String {
    timestamp::format(day * DAY_MS)[..10].to_owned()
}

fn is_tag(name: &str) -> bool {
    name.starts_with("tag.") || name.starts_with("tag[")
}

/// The days `query` asks for: `to` defaults to today, `from` to [`DEFAULT_DAYS`] before it.
/// Its `tag` guard is read by [`Query`].
fn range(query: &str, now: Millis) -> Result<UsageQuery, Error> {
    let (mut from, mut to) = (None, None);
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "from" => from = Some(day_of(&v, "from")?),
            "to" => to = Some(day_of(&v, "to")?),
            tag if is_tag(tag) => {}
            other => {
                return Err(Error::invalid(format!(
                    "unknown query parameter '{}'; use from, to and tag",
                    other.chars().take(40).collect::<String>()
                )))
            }
        }
    }
    let to = to.unwrap_or(now.div_euclid(DAY_MS));
    let from = from.unwrap_or((to - (DEFAULT_DAYS - 1)).max(0));
    if from > to {
        return Err(Error::invalid("'from' is after 'to'"));
    }
    if to - from >= USAGE_DAYS {
        return Err(Error::invalid(format!(
            "ask for at most {USAGE_DAYS} days at once (usage is kept that long)"
        )));
    }
    Ok(UsageQuery { from, to })
}

impl<S: Store, Q: Sql> Api<'_, S, Q> {
    /// When each key of `consumer` was last used. A listing does not fail for it: when the
    /// object cannot say, keys go without `lastUsedOn`.
    pub(crate) async fn last_used(&self, bucket: &str, consumer: &str) -> HashMap<String, Millis> {
        let c = Consumer {
            bucket: bucket.to_owned(),
            name: consumer.to_owned(),
        };
        // Today only: `last_used` comes with every counted key whatever the days asked.
        let today = self.now.div_euclid(DAY_MS);
        let q = UsageQuery {
            from: today,
            to: today,
        };
        match self.counters.usage(&c, q).await {
            Ok(u) => u
                .keys
                .into_iter()
                .filter_map(|k| Some((k.key_id, k.last_used?)))
                .collect(),
            Err(_) => HashMap::new(),
        }
    }

    /// `GET …/consumers/{name}/usage`: the consumer's keys (those it holds now), their
    /// `lastUsedOn` and their requests per UTC day.
    pub(super) async fn consumer_usage(
        &self,
        bucket: &str,
        name: &str,
        query: &str,
    ) -> Result<ApiResponse, Error> {
        let q = range(query, self.now)?;
        let tags: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| is_tag(k)))
            .finish();
        let c = self.guarded_consumer(bucket, name, &Query::parse(&tags)?)?;
        let mut counted = self
            .counters
            .usage(
                &Consumer {
                    bucket: bucket.to_owned(),
                    name: name.to_owned(),
                },
                q,
            )
            .await?;
        let mut by_id: HashMap<String, crate::limits::wire::KeyUsage> = counted
            .keys
            .drain(..)
            .map(|k| (k.key_id.clone(), k))
            .collect();
        let keys: Vec<KeyUsageOut> = c
            .keys
            .iter()
            .map(|k| {
                let u = by_id.remove(&k.id);
                let days: Vec<DayOut> = u
                    .as_ref()
                    .map(|u| {
                        u.days
                            .iter()
                            .map(|(day, requests)| DayOut {
                                date: date(*day),
                                requests: *requests,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                KeyUsageOut {
                    id: k.id.clone(),
                    last_used_on: u.and_then(|u| u.last_used).map(timestamp::format),
                    requests: days.iter().map(|d| d.requests).sum(),
                    days,
                }
            })
            .collect();
        Ok(ApiResponse::json(
            200,
            &UsageOut {
                consumer: name.to_owned(),
                from: date(q.from),
                to: date(q.to),
                requests: keys.iter().map(|k| k.requests).sum(),
                keys,
                limiter_calls: counted.calls,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_796_083_200_000; // 2026-12-01T00:00:00Z

    #[test]
    fn the_range_defaults_to_thirty_days_and_refuses_what_is_not_a_date() {
        let q = range("", NOW + 5).unwrap();
        assert_eq!(date(q.to), "2026-12-01");
        assert_eq!(date(q.from), "2026-11-02");
        let q = range("from=2026-11-30&to=2026-11-30", NOW).unwrap();
        assert_eq!(
            (date(q.from), date(q.to)),
            ("2026-11-30".into(), "2026-11-30".into())
        );
        for (bad, says) in [
            ("from=2026-13-01", "'from' must be a date"),
            ("to=30.11.2026", "'to' must be a date"),
            ("from=2026-12-02&to=2026-12-01", "after"),
            ("from=2024-01-01&to=2026-01-01", "at most 400 days"),
            ("limit=5", "unknown query parameter 'limit'"),
        ] {
            let e = range(bad, NOW).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
