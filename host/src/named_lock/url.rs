//! The URLs of namespaces: the directory of a `file://` URL, passwords
//! hidden in messages, and the query options this host reads off a
//! service's URL before its client crate sees it.

use std::path::PathBuf;

/// The directory of a `file://` URL (`file:///abs/dir`, or
/// `file://localhost/abs/dir`; percent-escapes decoded, and on Windows a
/// drive letter: `file:///C:/dir`).
pub(crate) fn file_url_path(url: &str) -> Result<PathBuf, String> {
    let parsed = url::Url::parse(url).map_err(|err| err.to_string())?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("a file URL takes no query or fragment".into());
    }
    // A directory of this machine: on Windows `file://server/…` would be a
    // network share (and `url` panics on one without a share name).
    if parsed.host_str().is_some_and(|host| host != "localhost") {
        return Err("a file URL names a directory of this machine: file:///DIR".into());
    }
    parsed
        .to_file_path()
        .map_err(|()| "a file URL names an absolute directory: file:///DIR".into())
}

/// `url` with the password of its user info replaced by `***`.
pub(crate) fn hide_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Splits the query of `url` into the options this host reads (`ours`)
/// and the URL without them, for the client crate.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) fn take_options(url: &str, ours: &[&str]) -> (String, Vec<(String, String)>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), Vec::new());
    };
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if ours.contains(&key) {
            taken.push((key.to_owned(), value.to_owned()));
        } else {
            kept.push(pair.to_owned());
        }
    }
    let rebuilt = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (rebuilt, taken)
}

/// Parses a number of milliseconds from an option.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) fn millis(key: &str, value: &str) -> Result<std::time::Duration, String> {
    match value.parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(std::time::Duration::from_millis(ms)),
        _ => Err(format!("`{key}` takes a positive number of milliseconds")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn file_urls_name_absolute_directories() {
        assert_eq!(
            file_url_path("file:///tmp/locks").unwrap(),
            PathBuf::from("/tmp/locks")
        );
        assert_eq!(
            file_url_path("file://localhost/tmp/a%20b").unwrap(),
            PathBuf::from("/tmp/a b")
        );
        for bad in ["file://relative", "file:///tmp?x=1", "file:///tmp#frag"] {
            assert!(file_url_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_urls_of_other_machines_are_refused() {
        for bad in [
            "file://relative",
            "file://server/share/dir",
            "file://server",
            "file://server/",
        ] {
            assert!(file_url_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    #[cfg(windows)]
    fn file_urls_name_drive_directories_on_windows() {
        assert_eq!(
            file_url_path("file:///C:/locks/a%20b").unwrap(),
            PathBuf::from(r"C:\locks\a b")
        );
        assert_eq!(
            file_url_path("file://localhost/C:/locks").unwrap(),
            PathBuf::from(r"C:\locks")
        );
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            hide_password("postgres://me:secret@db:5432/x?a=b"),
            "postgres://me:***@db:5432/x?a=b"
        );
        assert_eq!(hide_password("redis://db:6379"), "redis://db:6379");
    }

    #[test]
    #[cfg(any(feature = "redis", feature = "postgres"))]
    fn options_are_split_off() {
        let (url, ours) = take_options("redis://h:1/0?ttl_ms=5&protocol=resp3", &["ttl_ms"]);
        assert_eq!(url, "redis://h:1/0?protocol=resp3");
        assert_eq!(ours, [("ttl_ms".to_owned(), "5".to_owned())]);
    }
}
