//! RFC 9457 problem details: the one mapping from core errors to HTTP error responses.
//!
//! 5xx bodies stay generic; the detail of a server-side failure is for the log only.

use crate::error::{Error, ErrorKind};
use crate::http::ApiResponse;
use serde::Serialize;

/// Media type of problem responses.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// A problem document.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Problem {
    /// URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary (the status phrase).
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What went wrong in this case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The reason phrase of a status code keyward uses.
pub fn title(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// A problem response for `status` with an optional detail.
pub fn response(status: u16, detail: Option<String>) -> ApiResponse {
    let problem = Problem {
        kind: format!("https://httpproblems.com/http-status/{status}"),
        title: title(status).to_owned(),
        status,
        detail,
    };
    ApiResponse {
        status,
        headers: Vec::new(),
        content_type: Some(CONTENT_TYPE),
        body: serde_json::to_vec(&problem).unwrap_or_default(),
    }
}

/// The HTTP status of an error kind.
pub fn status_of(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::Invalid => 400,
        ErrorKind::Unauthorized => 401,
        ErrorKind::Forbidden => 403,
        ErrorKind::NotFound => 404,
        ErrorKind::MethodNotAllowed => 405,
        ErrorKind::Conflict => 409,
        ErrorKind::TooLarge => 413,
        _ => 500,
    }
}

/// The problem response for a core error; server-side errors get no detail.
pub fn from_error(error: &Error) -> ApiResponse {
    let status = status_of(error.kind());
    let detail = (status < 500).then(|| error.message().to_owned());
    response(status, detail)
}
