//! The WIT interfaces `named-lock` and `named-lock-types`: named locks
//! beyond one machine, on a directory of lock files, on Redis, or on
//! PostgreSQL, with fencing tokens.
//!
//! # Design
//!
//! A host grants namespaces by name ([`LockNamespace`], `--lock-namespace
//! NAME=URL`), the way it grants preopened directories; a guest opens one
//! and takes locks on names in it. The host owns every connection: a
//! namespace's service keeps one set of connections per host process,
//! shared by all the stores it is granted to, and guests never see a
//! socket.
//!
//! One module per WIT resource: `namespace` ([`Namespace`]: `acquire`,
//! `request`), `named_lock` ([`NamedLock`]: `fencing-token`,
//! `subscribe-lost`, `release`) and `pending_named_lock`
//! ([`PendingNamedLock`]); the errors of both interfaces in `error`
//! ([`NamedLockFailure`]).
//! Beneath them each namespace keeps a `service` (the lock service behind
//! one trait), one of:
//!
//! - `local` (`file:///DIR`, always built): `flock` on one lock file per
//!   name, a counter file per name for the fencing tokens;
//! - `redis` (feature `redis`): `SET NX PX` with a random token, Lua release
//!   and renewal, `INCR` fencing tokens; or, with `?compat=portalocker`,
//!   Python portalocker's `RedisLock` protocol (`redis_compat`);
//! - `postgres` (feature `postgres`): session advisory locks on one
//!   connection per host, a sequence for the fencing tokens.
//!
//! # Waiting
//!
//! Named locks wait with the file locks' engine wherever the lock allows
//! it, and with the same pieces elsewhere:
//!
//! - **A local namespace is the file engine.** Its lock files are waited
//!   for with [`crate::wait::acquire`], exactly like `file-lock.acquire`:
//!   the front of this host's fair queue blocks in the kernel on the
//!   guest's own open file (inline on a sync caller's thread, or on a
//!   capped worker), the kernel hands the lock over at release, and a
//!   deadline or a cancellation interrupts the wait with a signal.
//! - **A network service waits in the named-lock engine** (`engine`),
//!   which is the file engine's loop over a lock that lives on a server:
//!   the same [`Patience`](crate::wait) (timeouts and the host's
//!   `max_wait`), the same pending-wait slots (`max_pending_waits`), the
//!   same held-lock accounting (`max_held_locks` counts file locks and
//!   named locks together), the same timers and requests, and the same
//!   promise that a cancelled wait never keeps the lock. It differs where a
//!   server differs from a kernel: an attempt is a round trip that may be
//!   answered after its caller gave up (so it runs as a task and a grant
//!   nobody receives is released), there is no blocking call to wait in
//!   and this host's waiters are a few among every host's (so waiters
//!   listen for the service's notice of a release and poll as a safety
//!   net), and leases expire (so held ones are renewed, and a failed
//!   renewal trips the lock's lost signal). The `engine` module docs say
//!   more.

#[cfg(any(feature = "redis", feature = "postgres"))]
mod engine;
mod error;
mod local;
mod lock_namespace;
mod lost;
mod name;
#[expect(
    clippy::module_inception,
    reason = "the module of the WIT resource `named-lock`, in the interface's module"
)]
mod named_lock;
mod namespace;
mod pending_named_lock;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod redis_compat;
mod service;
mod url;

pub use self::error::NamedLockFailure;
pub use self::lock_namespace::{LockNamespace, NamespaceError};
pub use self::named_lock::NamedLock;
pub use self::namespace::Namespace;
pub use self::pending_named_lock::PendingNamedLock;
use crate::bindings::portalocker::filelock::named_lock as wit;
pub use crate::bindings::portalocker::filelock::named_lock_types::NamedLockError;
use crate::ctx::FileLockCtxView;

impl wit::Host for FileLockCtxView<'_> {
    /// The namespaces granted to this store, in the order the host added
    /// them.
    async fn granted_namespaces(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(self
            .ctx
            .namespaces
            .iter()
            .map(|granted| granted.name().to_owned())
            .collect())
    }
}
