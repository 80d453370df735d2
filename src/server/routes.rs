//! Request paths of the REST protocol (format-spec/rest-protocol.md), parsed
//! strictly: a path that could step outside the served folder never parses.
//! The repository layout is the backends' ([`FileKind`]), not a copy of it.

use crate::id::FileKind;

/// The file kinds a path names by their folder (all but the config).
fn kind_named(dir: &str) -> Option<FileKind> {
    FileKind::ALL
        .into_iter()
        .find(|k| *k != FileKind::Config && k.dir() == dir)
}

/// The longest path segment: a file name on Linux and most file systems.
pub const MAX_SEGMENT: usize = 255;

/// What a request path names. `repo` is the repository's path under the
/// served folder: zero to two names joined by `/` (empty for the folder itself).
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `/metrics`.
    Metrics,
    /// `/REPO/` (with `?create=true` to create it).
    Repo {
        /// The repository.
        repo: String,
    },
    /// `/REPO/config`.
    Config {
        /// The repository.
        repo: String,
    },
    /// `/REPO/TYPE/`.
    List {
        /// The repository.
        repo: String,
        /// The kind whose folder `TYPE` is (never the config).
        kind: FileKind,
    },
    /// `/REPO/TYPE/NAME`.
    File {
        /// The repository.
        repo: String,
        /// The kind whose folder `TYPE` is (never the config).
        kind: FileKind,
        /// 64 lowercase hex characters.
        name: String,
    },
}

impl Route {
    /// The repository the route is in (`/` for metrics).
    pub fn repo(&self) -> &str {
        match self {
            Route::Metrics => "/",
            Route::Repo { repo }
            | Route::Config { repo }
            | Route::List { repo, .. }
            | Route::File { repo, .. } => repo,
        }
    }
}

/// Why a path was refused (answered with 400).
pub type RouteError = &'static str;

/// Parses a request path (without the query).
pub fn parse(path: &str) -> Result<Route, RouteError> {
    if path == "/metrics" {
        return Ok(Route::Metrics);
    }
    let rest = path.strip_prefix('/').ok_or("the path must start with /")?;
    // Encoded bytes could hide `/`, `..` or NUL: names never need them.
    if rest.contains('%') || rest.contains('\\') || rest.bytes().any(|b| b < 0x20) {
        return Err("encoded or control characters are not allowed in paths");
    }
    let trailing = rest.ends_with('/') || rest.is_empty();
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    if rest.split('/').rev().skip(1).any(|p| p.is_empty()) && !rest.is_empty() {
        return Err("empty path segments are not allowed");
    }
    for p in &parts {
        // Longer names cannot exist on disk (NAME_MAX): refuse them here
        // rather than let the file system fail with ENAMETOOLONG.
        if p.len() > MAX_SEGMENT {
            return Err("path segments are at most 255 bytes");
        }
        if p.starts_with('.')
            || !p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err("path segments may hold only letters, digits, '-', '_' and '.', and may not start with '.'");
        }
    }
    let repo_of = |n: usize| -> Result<String, RouteError> {
        if n > 2 {
            return Err("repositories are at most two folders deep");
        }
        let names = &parts[..n];
        if names
            .iter()
            .any(|p| *p == "config" || kind_named(p).is_some())
        {
            return Err("a repository may not be named like a repository file type");
        }
        Ok(names.join("/"))
    };
    let kind_of = kind_named;
    let n = parts.len();
    if n >= 1 && parts[n - 1] == "config" && !trailing {
        return Ok(Route::Config {
            repo: repo_of(n - 1)?,
        });
    }
    if n >= 1 && trailing {
        if let Some(kind) = kind_of(parts[n - 1]) {
            return Ok(Route::List {
                repo: repo_of(n - 1)?,
                kind,
            });
        }
    }
    if n >= 2 && !trailing {
        if let Some(kind) = kind_of(parts[n - 2]) {
            let name = parts[n - 1];
            if name.len() != 64 || !name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err("file names are 64 lowercase hex characters (a SHA-256)");
            }
            return Ok(Route::File {
                repo: repo_of(n - 2)?,
                kind,
                name: name.to_string(),
            });
        }
    }
    Ok(Route::Repo { repo: repo_of(n)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn routes_parse() {
        assert_eq!(parse("/metrics"), Ok(Route::Metrics));
        assert_eq!(parse("/"), Ok(Route::Repo { repo: "".into() }));
        assert_eq!(parse("/a/b/"), Ok(Route::Repo { repo: "a/b".into() }));
        assert_eq!(parse("/a/config"), Ok(Route::Config { repo: "a".into() }));
        assert_eq!(parse("/config"), Ok(Route::Config { repo: "".into() }));
        assert_eq!(
            parse("/alice/prod/data/"),
            Ok(Route::List {
                repo: "alice/prod".into(),
                kind: FileKind::Pack
            })
        );
        assert_eq!(
            parse(&format!("/r/keys/{NAME}")),
            Ok(Route::File {
                repo: "r".into(),
                kind: FileKind::Key,
                name: NAME.into()
            })
        );
    }

    #[test]
    fn hostile_paths_are_refused() {
        for bad in [
            "/../etc/passwd",
            "/a/../../x/config",
            "/a/%2e%2e/config",
            "/a%2Fb/config",
            "/a/data/..%00",
            "/.ssh/config",
            "/a//config",
            "/a/b/c/config",
            "/a/data/ABCDEF",
            "/a/data/short",
            "/data/config",
            "relative",
            "/a\\b/config",
            format!("/{}/config", "a".repeat(256)).as_str(),
            format!("/r/keys/{}", "a".repeat(256)).as_str(),
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse(&format!("/a/data/{}", NAME.to_uppercase())).is_err());
        let longest = "a".repeat(MAX_SEGMENT);
        assert_eq!(
            parse(&format!("/{longest}/{longest}/")),
            Ok(Route::Repo {
                repo: format!("{longest}/{longest}")
            })
        );
    }
}
