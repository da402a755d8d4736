//! Namespaces the host grants: [`LockNamespace`], made from a name and a URL
//! (`file:///DIR`, `redis://…`, `postgres://…`), as `--lock-namespace
//! NAME=URL` and [`FileLockCtxBuilder::lock_namespace`] take them. (The
//! guest's side, the WIT resource `namespace`, is [`super::Namespace`].)
//!
//! [`FileLockCtxBuilder::lock_namespace`]: crate::FileLockCtxBuilder::lock_namespace

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use tokio::runtime::Handle;

use super::error::BackendError;
use super::local::LocalService;
use super::service::Service;
use super::url::{file_url_path, hide_password};

/// A namespace of named locks on one lock service, granted to guests under
/// its name. Cloning shares the service and its connections: every store
/// of a host that is given the same namespace uses the same connections.
///
/// # Examples
///
/// ```
/// use portalocker_host::{FileLockCtx, LockNamespace};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// // file:///tmp/… (file:///C:/… on Windows)
/// let url = url::Url::from_directory_path(dir.path()).expect("an absolute path");
/// let jobs: LockNamespace = format!("jobs={url}").parse()?;
/// let ctx = FileLockCtx::builder().lock_namespace(jobs).build();
/// assert_eq!(ctx.lock_namespaces().len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct LockNamespace {
    name: Arc<str>,
    /// The URL as given, with any password hidden, for messages.
    shown: Arc<str>,
    pub(crate) service: Arc<dyn Service>,
}

impl fmt::Debug for LockNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockNamespace")
            .field("name", &self.name)
            .field("url", &self.shown)
            .finish()
    }
}

/// Why a namespace cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamespaceError {
    /// The argument is not `NAME=URL`.
    #[error("`{0}` is not NAME=URL")]
    NotNameUrl(String),
    /// The namespace name is empty, too long or has control characters.
    #[error("namespace name `{0}`: 1 to 64 bytes, no control characters or `=`")]
    BadName(String),
    /// The URL cannot be used; the reason says why.
    #[error("namespace `{name}`: `{url}`: {reason}")]
    BadUrl {
        /// The namespace.
        name: String,
        /// The URL, any password hidden.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The service could not be reached.
    #[error("namespace `{name}` ({url}): cannot connect: {reason}")]
    Connect {
        /// The namespace.
        name: String,
        /// The URL, any password hidden.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

impl LockNamespace {
    /// A namespace called `name` on the service at `url`:
    ///
    /// - `file:///DIR`: lock files in the host directory DIR (created when
    ///   missing);
    /// - `redis://[:PASSWORD@]HOST:PORT[/DB][?OPTIONS]` (feature `redis`):
    ///   options `ttl_ms` (the lease, 10000), `wait` (`notify`, the default,
    ///   or `poll`), `prefix` (of every key, `portalocker:NAME:`),
    ///   `timeout_ms` (the longest wait for an answer, 2000) and
    ///   `compat=portalocker` (speak Python portalocker's `RedisLock`
    ///   protocol instead; see the `redis_compat` module);
    /// - `postgres://USER[:PASSWORD]@HOST:PORT/DB[?OPTIONS]` (feature
    ///   `postgres`): options `check_ms` (the connection's health check,
    ///   1000), `prefix` (mixed into every key, NAME), `sequence` (of the
    ///   fencing tokens, `portalocker_fencing`), `timeout_ms` (2000), and
    ///   the connection parameters `tokio-postgres` knows.
    ///
    /// Nothing is connected here (a `file://` directory is created and
    /// opened): see [`LockNamespace::check`]. A service's connections and
    /// tasks live on the current Tokio runtime, or on wasmtime-wasi's when
    /// there is none; make the namespace outside any runtime, or on one
    /// that outlives every store it is granted to.
    ///
    /// # Errors
    ///
    /// A [`NamespaceError`] for a bad name or URL, or a scheme this build
    /// does not support.
    pub fn new(name: &str, url: &str) -> Result<Self, NamespaceError> {
        if name.is_empty()
            || name.len() > 64
            || name.contains('=')
            || name.chars().any(char::is_control)
        {
            return Err(NamespaceError::BadName(name.to_owned()));
        }
        let shown = hide_password(url);
        let bad = |reason: String| NamespaceError::BadUrl {
            name: name.to_owned(),
            url: shown.clone(),
            reason,
        };
        let runtime = wasmtime_wasi::runtime::with_ambient_tokio_runtime(Handle::current);
        let (scheme, _) = url
            .split_once("://")
            .ok_or_else(|| bad("expected SCHEME://…".into()))?;
        let service: Arc<dyn Service> = match scheme {
            "file" => {
                let dir = file_url_path(url).map_err(bad)?;
                let service = LocalService::new(&dir)
                    .map_err(|err| bad(format!("cannot open {}: {err}", dir.display())))?;
                Arc::new(service)
            }
            "redis" => redis_service(name, url, runtime).map_err(bad)?,
            "postgres" | "postgresql" => postgres_service(name, url, runtime).map_err(bad)?,
            other => {
                return Err(bad(format!(
                    "unknown scheme `{other}` (file, redis or postgres)"
                )));
            }
        };
        Ok(LockNamespace {
            name: name.into(),
            shown: shown.into(),
            service,
        })
    }

    /// The name guests open the namespace by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connects to the service (or checks the directory) without taking a
    /// lock, so that a misconfiguration is reported before guests run.
    ///
    /// # Errors
    ///
    /// [`NamespaceError::Connect`] when the service cannot be reached.
    pub async fn check(&self) -> Result<(), NamespaceError> {
        self.service
            .check()
            .await
            .map_err(|err| NamespaceError::Connect {
                name: self.name.to_string(),
                url: self.shown.to_string(),
                reason: match err {
                    BackendError::Unavailable(reason) => reason,
                    other => other.to_string(),
                },
            })
    }
}

impl FromStr for LockNamespace {
    type Err = NamespaceError;

    /// Parses `NAME=URL`.
    fn from_str(arg: &str) -> Result<Self, Self::Err> {
        let (name, url) = arg
            .split_once('=')
            .ok_or_else(|| NamespaceError::NotNameUrl(arg.to_owned()))?;
        LockNamespace::new(name, url)
    }
}

#[cfg(feature = "redis")]
fn redis_service(name: &str, url: &str, runtime: Handle) -> Result<Arc<dyn Service>, String> {
    super::redis::service(name, url, runtime)
}

#[cfg(not(feature = "redis"))]
fn redis_service(_: &str, _: &str, _: Handle) -> Result<Arc<dyn Service>, String> {
    Err("this build has no Redis support (cargo feature `redis`)".into())
}

#[cfg(feature = "postgres")]
fn postgres_service(name: &str, url: &str, runtime: Handle) -> Result<Arc<dyn Service>, String> {
    super::postgres::service(name, url, runtime)
}

#[cfg(not(feature = "postgres"))]
fn postgres_service(_: &str, _: &str, _: Handle) -> Result<Arc<dyn Service>, String> {
    Err("this build has no PostgreSQL support (cargo feature `postgres`)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_name_and_url() {
        assert!(matches!(
            "jobs".parse::<LockNamespace>(),
            Err(NamespaceError::NotNameUrl(_))
        ));
        assert!(matches!(
            "=file:///tmp".parse::<LockNamespace>(),
            Err(NamespaceError::BadName(_))
        ));
        assert!(matches!(
            "jobs=ftp://x".parse::<LockNamespace>(),
            Err(NamespaceError::BadUrl { .. })
        ));
        assert!(matches!(
            "jobs=file://relative".parse::<LockNamespace>(),
            Err(NamespaceError::BadUrl { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dir.path()).unwrap();
        let ns: LockNamespace = format!("jobs={url}sub").parse().unwrap();
        assert_eq!(ns.name(), "jobs");
        assert!(dir.path().join("sub").is_dir());
    }
}
