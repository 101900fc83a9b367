//! The error type of keyward-core: a context message plus a documented kind.
//!
//! Messages are lowercase without a final period, name the bad thing and, where it helps,
//! end with a hint. They never contain a secret (a key, a token or a full hash).

use std::fmt;

/// What went wrong, coarse enough for an adapter to choose an HTTP status or exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input breaks a rule (a name, an e-mail, a body shape); nothing was changed.
    Invalid,
    /// The addressed resource does not exist.
    NotFound,
    /// A resource with that name already exists.
    Conflict,
    /// Missing or wrong credentials.
    Unauthorized,
    /// The credentials are valid but not allowed to do this.
    Forbidden,
    /// The request body is larger than accepted.
    TooLarge,
    /// The HTTP method is not supported on this path.
    MethodNotAllowed,
    /// The deployment is misconfigured (a missing secret, a bad variable).
    Config,
    /// The storage backend failed.
    Storage,
    /// A stored record could not be read back (corrupt or from an unknown schema version).
    Corrupt,
    /// The random source failed.
    Entropy,
}

/// An error from keyward-core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// A new error of `kind` with a message for humans.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// Shorthand for an [`ErrorKind::Invalid`] error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Invalid, message)
    }

    /// Shorthand for an [`ErrorKind::NotFound`] error.
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, message)
    }

    /// Shorthand for an [`ErrorKind::Storage`] error.
    pub fn storage(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Storage, message)
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with `context` put in front of its message.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
