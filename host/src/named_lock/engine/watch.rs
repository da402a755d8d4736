//! Notices of releases, per name: [`Chances`] keeps one [`Notify`] per name
//! that someone waits for, and a backend calls [`Chances::released`] when it
//! learns that a name was released (by this host, or by a message from the
//! service).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;
use tokio::sync::futures::Notified;

/// The names waiters of this host watch, and how to wake them.
#[derive(Debug, Default)]
pub(crate) struct Chances {
    watched: Mutex<HashMap<Arc<str>, Weak<Notify>>>,
}

impl Chances {
    /// A watch on `name`, sharing one notifier with the other watchers of the
    /// same name.
    pub(crate) fn watch(&self, name: &Arc<str>) -> Watch {
        let mut watched = self.lock();
        let notify = match watched.get(name).and_then(Weak::upgrade) {
            Some(notify) => notify,
            None => {
                watched.retain(|_, weak| weak.strong_count() > 0);
                let notify = Arc::new(Notify::new());
                watched.insert(Arc::clone(name), Arc::downgrade(&notify));
                notify
            }
        };
        Watch {
            notify: Some(notify),
        }
    }

    /// Wakes every waiter watching `name`.
    pub(crate) fn released(&self, name: &str) {
        let notify = self.lock().get(name).and_then(Weak::upgrade);
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }

    /// Wakes every waiter of every name (the service's notices may have been
    /// missed, for example while reconnecting).
    pub(crate) fn released_all(&self) {
        let all: Vec<Arc<Notify>> = self.lock().values().filter_map(Weak::upgrade).collect();
        for notify in all {
            notify.notify_waiters();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Weak<Notify>>> {
        self.watched.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One waiter's watch on a name; see [`Chances::watch`].
#[derive(Debug)]
pub(crate) struct Watch {
    /// `None` for a backend that sends no notices: the waiter polls.
    notify: Option<Arc<Notify>>,
}

impl Watch {
    /// A watch that never fires: the waiter relies on polling alone.
    pub(crate) fn none() -> Self {
        Watch { notify: None }
    }

    /// The next notice, if the backend sends any. Enable it before the
    /// attempt it should follow.
    pub(crate) fn notified(&self) -> Option<Notified<'_>> {
        self.notify.as_deref().map(Notify::notified)
    }
}
