//! Random bytes, supplied by the adapter.
//!
//! core never reaches for an OS or JS source itself: the Worker passes `crypto.getRandomValues`
//! (through getrandom), tests pass whatever they like. Key bodies need a CSPRNG.

use crate::error::Error;

/// A source of cryptographically secure random bytes.
pub trait Entropy {
    /// Fills `buf` completely with random bytes.
    fn fill(&self, buf: &mut [u8]) -> Result<(), Error>;
}
