//! Path patterns shared by backup excludes and restore includes/excludes, so
//! both follow one rule: a pattern with a `/` matches the whole path
//! (`/var/log/**`, `**/cache`); one without matches the path's last component
//! (`*.tmp`, `node_modules`). A trailing `/` is ignored.

use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};

/// A pattern that is not a valid glob.
#[derive(Debug, thiserror::Error)]
#[error("pattern '{pattern}' is invalid: {reason}")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// Why.
    pub reason: String,
}

/// A compiled set of patterns; see the module documentation. The default is
/// the empty set, which matches nothing.
#[derive(Clone)]
pub struct PathPatterns {
    full: GlobSet,
    base: GlobSet,
    empty: bool,
}

impl Default for PathPatterns {
    fn default() -> Self {
        PathPatterns {
            full: GlobSet::empty(),
            base: GlobSet::empty(),
            empty: true,
        }
    }
}

impl PathPatterns {
    /// Compiles `patterns`.
    pub fn new(patterns: &[String]) -> Result<PathPatterns, PatternError> {
        let mut full = GlobSetBuilder::new();
        let mut base = GlobSetBuilder::new();
        for p in patterns {
            let trimmed = p.trim_end_matches('/');
            let glob = Glob::new(trimmed).map_err(|e| PatternError {
                pattern: p.clone(),
                reason: e.kind().to_string(),
            })?;
            if trimmed.contains('/') {
                full.add(glob);
            } else {
                base.add(glob);
            }
        }
        let built = |b: GlobSetBuilder| {
            b.build().map_err(|e| PatternError {
                pattern: patterns.join(" "),
                reason: e.to_string(),
            })
        };
        Ok(PathPatterns {
            full: built(full)?,
            base: built(base)?,
            empty: patterns.is_empty(),
        })
    }

    /// True when no pattern was given.
    pub fn is_empty(&self) -> bool {
        self.empty
    }

    /// True if `path` matches any pattern.
    pub fn matches(&self, path: &Path) -> bool {
        !self.empty
            && (self.full.is_match(path)
                || path
                    .file_name()
                    .is_some_and(|n| self.base.is_match(Path::new(n))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_paths_and_names() {
        let p = PathPatterns::new(&[
            "*.tmp".into(),
            "/var/cache/**".into(),
            "node_modules/".into(),
        ])
        .unwrap();
        assert!(p.matches(Path::new("/a/b.tmp")));
        assert!(p.matches(Path::new("/var/cache/x/y")));
        assert!(p.matches(Path::new("/src/node_modules")));
        assert!(!p.matches(Path::new("/src/main.rs")));
        assert!(!PathPatterns::new(&[]).unwrap().matches(Path::new("/x")));
        assert!(PathPatterns::default().is_empty());
        assert!(PathPatterns::new(&["[".into()]).is_err());
    }
}
