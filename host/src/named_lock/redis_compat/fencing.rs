//! Fencing tokens in portalocker's protocol: an exclusive grant draws one
//! with `INCR NAME-fence`, the counter Python's `RedisLock(fencing=True)`
//! increments, so a guest's and a Python holder's tokens come from one
//! sequence and a resource that checks them refuses either's stale writes.
//!
//! What this gives is less than the other backends give (the WIT documents
//! it): shared grants draw no token (Python draws none either), and the
//! tokens are ordered only among fencing participants: a Python `RedisLock`
//! created without `fencing=True` takes the lock without drawing one, so a
//! resource checking tokens cannot tell its writes from stale ones.

use super::CompatBackend;
use super::client::Refusal;

/// Draws the next fencing token of the lock on `channel`.
pub(super) async fn draw(backend: &CompatBackend, channel: &str) -> Result<u64, Refusal> {
    backend
        .query(redis::cmd("INCR").arg(format!("{channel}-fence")))
        .await
}
