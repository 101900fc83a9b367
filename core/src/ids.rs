//! Resource ids: a type prefix and 20 random base62 digits (`csmr_…`, `key_…`, `eusr_…`,
//! `bckt_…`), shaped like Zuplo's so clients that look at the prefix keep working.

use crate::entropy::Entropy;
use crate::error::Error;
use crate::key::base62;

/// Random digits in an id: ~119 bits, enough never to collide.
const ID_DIGITS: usize = 20;

/// Id prefix of a consumer.
pub const CONSUMER: &str = "csmr";
/// Id prefix of an API key.
pub const KEY: &str = "key";
/// Id prefix of a manager.
pub const MANAGER: &str = "eusr";
/// Id prefix of a bucket.
pub const BUCKET: &str = "bckt";

/// A new random id of the given type, e.g. `key_3kTMd9…`.
pub fn new_id(kind: &str, entropy: &dyn Entropy) -> Result<String, Error> {
    Ok(format!("{kind}_{}", base62::random(entropy, ID_DIGITS)?))
}
