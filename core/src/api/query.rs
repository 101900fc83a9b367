//! Query parameters of the developer API, parsed once per request.

use super::model::{KeyFormat, ListOut};
use crate::error::Error;
use crate::http::ApiResponse;
use serde::Serialize;
use std::collections::BTreeMap;

/// Largest page (KV's list limit, and Zuplo's): a larger `limit` is capped to it, as Zuplo does.
pub const MAX_LIMIT: usize = 1000;

/// Largest page of consumers listed with `include-api-keys=true&key-format=visible` (each key
/// shown is a decryption in the bucket's object): a larger `limit` is capped to it.
pub const MAX_VISIBLE_CONSUMERS: usize = 100;

/// The query parameters keyward understands; others are ignored, as Zuplo does.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Page size, 1..=1000 (default 1000).
    pub limit: usize,
    /// Items to skip.
    pub offset: usize,
    /// `include-api-keys`.
    pub include_api_keys: bool,
    /// `include-managers`.
    pub include_managers: bool,
    /// `include-manager-invites`: answered with an empty `managerInvites` list.
    pub include_manager_invites: bool,
    /// `key-format`.
    pub key_format: KeyFormat,
    /// `with-api-key`.
    pub with_api_key: bool,
    /// `manager-email`, lower-cased.
    pub manager_email: Option<String>,
    /// `tag.<k>=<v>` (Zuplo's form) or `tag[<k>]=<v>` (OpenAPI's `deepObject`, what generated
    /// clients send) filters; all must match.
    pub tags: BTreeMap<String, String>,
    /// `cursor`: where a page of consumers starts (the `cursor` of the previous page);
    /// `offset` is ignored with it.
    pub cursor: Option<String>,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            limit: MAX_LIMIT,
            offset: 0,
            include_api_keys: false,
            include_managers: false,
            include_manager_invites: false,
            key_format: KeyFormat::Masked,
            with_api_key: false,
            manager_email: None,
            tags: BTreeMap::new(),
            cursor: None,
        }
    }
}

fn flag(name: &str, v: &str) -> Result<bool, Error> {
    match v {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::invalid(format!(
            "query parameter {name}: use true or false"
        ))),
    }
}

/// `limit`: a number from 1; above [`MAX_LIMIT`] (however many digits) it is capped, as
/// Zuplo does.
fn limit(v: &str) -> Result<usize, Error> {
    let bad =
        || Error::invalid("query parameter limit: use a number from 1 (at most 1000 are answered)");
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match v.parse::<usize>() {
        Ok(0) => Err(bad()),
        Ok(n) => Ok(n.min(MAX_LIMIT)),
        // Only digits, yet no usize: too large, so the maximum.
        Err(_) => Ok(MAX_LIMIT),
    }
}

impl Query {
    /// Every query parameter [`Query::parse`] reads (a test checks each is in the OpenAPI
    /// document); `tag` stands for the `tag.<k>=<v>` and `tag[<k>]=<v>` filters.
    pub const NAMES: &[&str] = &[
        "limit",
        "offset",
        "include-api-keys",
        "include-managers",
        "include-manager-invites",
        "with-api-key",
        "key-format",
        "cursor",
        "manager-email",
        "tag",
    ];

    /// Parses a raw query string.
    pub fn parse(raw: &str) -> Result<Query, Error> {
        let mut q = Query::default();
        for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
            match k.as_ref() {
                "limit" => q.limit = limit(&v)?,
                "offset" => {
                    q.offset = v.parse().map_err(|_| {
                        Error::invalid("query parameter offset: use a number from 0")
                    })?;
                }
                "include-api-keys" => q.include_api_keys = flag(&k, &v)?,
                "include-managers" => q.include_managers = flag(&k, &v)?,
                "include-manager-invites" => q.include_manager_invites = flag(&k, &v)?,
                "with-api-key" => q.with_api_key = flag(&k, &v)?,
                "key-format" => {
                    q.key_format = match v.as_ref() {
                        "none" => KeyFormat::None,
                        "masked" => KeyFormat::Masked,
                        // Who may see keys and where is the router's check
                        // (`Api::may_show_keys`): it needs the bucket.
                        "visible" => KeyFormat::Visible,
                        _ => {
                            return Err(Error::invalid(
                                "query parameter key-format: use none, masked or visible",
                            ))
                        }
                    }
                }
                "cursor" if !v.is_empty() => {
                    crate::validate::consumer_name(&v).map_err(|_| {
                        Error::invalid("query parameter cursor: not a cursor from a previous page; start without one")
                    })?;
                    q.cursor = Some(v.into_owned());
                }
                "manager-email" => q.manager_email = Some(crate::validate::email(&v)?),
                // Zuplo's own schema declares a plain `tag`; a filter that names no tag would
                // silently guard nothing, so it is refused rather than ignored.
                "tag" => return Err(Error::invalid(
                    "query parameter tag: name the tag, as tag.<key>=<value> or tag[<key>]=<value>",
                )),
                other => {
                    let tag = other
                        .strip_prefix("tag.")
                        .or_else(|| other.strip_prefix("tag[").and_then(|t| t.strip_suffix(']')));
                    if let Some(tag) = tag {
                        q.tags.insert(tag.to_owned(), v.into_owned());
                        // A consumer has at most MAX_TAGS tags: more filters match nothing,
                        // and each is two SQL parameters (the object allows 100).
                        if q.tags.len() > crate::validate::MAX_TAGS {
                            return Err(Error::invalid(format!(
                                "at most {} tag filters (a consumer has at most {} tags)",
                                crate::validate::MAX_TAGS,
                                crate::validate::MAX_TAGS
                            )));
                        }
                    }
                }
            }
        }
        Ok(q)
    }

    /// Whether `tags` satisfy every `tag.<k>=<v>` filter.
    pub fn tags_match(&self, tags: &BTreeMap<String, String>) -> bool {
        self.tags.iter().all(|(k, v)| tags.get(k) == Some(v))
    }
}

impl Query {
    /// The page of `items` (all of them, in order) this query asks for, each shown with
    /// `show`, in the list envelope; the first item `show` fails on fails the page.
    pub fn page_of<I, T: Serialize>(
        &self,
        items: &[I],
        show: impl Fn(&I) -> Result<T, Error>,
    ) -> Result<ApiResponse, Error> {
        let data = items
            .iter()
            .skip(self.offset)
            .take(self.limit)
            .map(show)
            .collect::<Result<Vec<T>, Error>>()?;
        Ok(self.page(data, items.len()))
    }

    /// The answer for one page: `data` already cut to `limit` from `offset`, of `total`.
    pub fn page<T: Serialize>(&self, data: Vec<T>, total: usize) -> ApiResponse {
        self.page_with_cursor(data, total, None)
    }

    /// The list envelope of a page, with the cursor of the next page when there is one.
    pub fn page_with_cursor<T: Serialize>(
        &self,
        data: Vec<T>,
        total: usize,
        cursor: Option<String>,
    ) -> ApiResponse {
        ApiResponse::json(
            200,
            &ListOut {
                data,
                limit: self.limit,
                offset: if self.cursor.is_some() {
                    0
                } else {
                    self.offset
                },
                total,
                cursor,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_zuplo_parameters() {
        let q = Query::parse(
            "limit=10&offset=5&include-api-keys=true&key-format=none&tag.team=core&tag.env=prod",
        )
        .unwrap();
        assert_eq!(q.limit, 10);
        assert_eq!(q.offset, 5);
        assert!(q.include_api_keys);
        assert_eq!(q.key_format, KeyFormat::None);
        assert_eq!(q.tags.len(), 2);
        assert!(Query::parse("limit=0").is_err());
        assert!(Query::parse("limit=-1").is_err());
        assert!(Query::parse("limit=ten").is_err());
        assert_eq!(
            Query::parse("key-format=visible").unwrap().key_format,
            KeyFormat::Visible
        );
        assert!(Query::parse("key-format=plain").is_err());
    }

    #[test]
    fn a_limit_over_the_maximum_is_capped_as_zuplo_does() {
        for raw in ["1001", "5000", "99999999999999999999999999"] {
            assert_eq!(
                Query::parse(&format!("limit={raw}")).unwrap().limit,
                MAX_LIMIT,
                "{raw}"
            );
        }
        assert_eq!(Query::parse("limit=1000").unwrap().limit, 1000);
        assert_eq!(Query::parse("limit=1").unwrap().limit, 1);
    }

    #[test]
    fn tag_filters_in_zuplo_and_deep_object_form() {
        let q = Query::parse("tag.team=core&tag%5Benv%5D=prod&tag[plan]=gold").unwrap();
        let want: BTreeMap<String, String> = [("env", "prod"), ("plan", "gold"), ("team", "core")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(q.tags, want);
        // A filter naming no tag would guard nothing: refused, not ignored.
        let e = Query::parse("tag=team").unwrap_err();
        assert!(e.message().contains("tag[<key>]"), "{}", e.message());
        // The two forms count together against the limit.
        assert!(Query::parse("tag.a=1&tag[b]=2&tag.c=3&tag[d]=4&tag.e=5&tag[f]=6").is_err());
        // Not a tag filter: ignored like any parameter keyward does not know.
        assert!(Query::parse("tagx=1&tag[open=1").unwrap().tags.is_empty());
    }

    #[test]
    fn include_manager_invites_is_a_flag() {
        assert!(
            Query::parse("include-manager-invites=true")
                .unwrap()
                .include_manager_invites
        );
        assert!(
            !Query::parse("include-manager-invites=false")
                .unwrap()
                .include_manager_invites
        );
        assert!(Query::parse("include-manager-invites=maybe").is_err());
    }
}
