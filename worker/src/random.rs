//! Random bytes from the runtime's CSPRNG (`crypto.getRandomValues`, through getrandom).

use keyward_core::entropy::Entropy;
use keyward_core::{Error, ErrorKind};

/// The Workers runtime's CSPRNG.
pub struct WebCrypto;

impl Entropy for WebCrypto {
    fn fill(&self, buf: &mut [u8]) -> Result<(), Error> {
        getrandom::fill(buf)
            .map_err(|e| Error::new(ErrorKind::Entropy, format!("random source failed: {e}")))
    }
}
