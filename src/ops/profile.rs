//! Platform profiles: one TOML file naming everything a platform uses (its
//! etcd cluster, git repositories, config files and certificate folders),
//! where its snapshots go and how to open them, for `backup --profile` and
//! `restore --profile`. The schema is documented in `docs/profile.md`;
//! `examples/platform.toml` is a complete example.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::etcd::{parse_location, EtcdLocation};

/// Source kinds a profile names, in the order a backup reads them and a
/// restore writes them is [`RESTORE_ORDER`].
pub const KINDS: [&str; 3] = ["etcd", "git", "files"];

/// Restore order: config files and certificates first (etcd and git
/// servers may need them), then etcd, then git.
pub const RESTORE_ORDER: [&str; 3] = ["files", "etcd", "git"];

/// A profile that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file cannot be read.
    #[error("cannot read the profile {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed or names unknown settings.
    #[error("the profile {path} is invalid: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, with its line.
        reason: String,
    },
}

/// A parsed profile, with relative paths made absolute against the
/// profile's folder.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformProfile {
    /// The platform's name, recorded as the tag `profile:NAME`.
    #[serde(default)]
    pub name: Option<String>,
    /// Where snapshots go.
    #[serde(default)]
    pub repository: Option<RepositorySection>,
    /// Host name and tags recorded in each snapshot.
    #[serde(default)]
    pub snapshot: SnapshotSection,
    /// The etcd cluster.
    #[serde(default)]
    pub etcd: Option<EtcdSection>,
    /// The git repositories.
    #[serde(default)]
    pub git: Option<GitSection>,
    /// Config files, certificate folders, any path.
    #[serde(default)]
    pub files: Vec<FilesSection>,
    /// The profile file.
    #[serde(skip)]
    pub file: PathBuf,
}

/// `[repository]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositorySection {
    /// As `-r`: a folder, `s3:...`, `sftp:...`, `rest:...`.
    pub location: String,
    /// A file whose first line is the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// A command printing the password.
    #[serde(default)]
    pub password_command: Option<String>,
}

/// `[snapshot]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSection {
    /// Host name to record (default: the machine's).
    #[serde(default)]
    pub host: Option<String>,
    /// Tags to add.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// `[etcd]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdSection {
    /// `etcd://HOST:PORT[,HOST:PORT...]` or `etcds://...`.
    pub location: String,
    /// CA certificate (PEM) for `etcds://`.
    #[serde(default)]
    pub cacert: Option<PathBuf>,
    /// Client certificate (PEM).
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Its key (PEM).
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// etcd user.
    #[serde(default)]
    pub user: Option<String>,
    /// A file whose first line is the etcd user's password (else
    /// `SNAP_ETCD_PASSWORD` or a prompt).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Only keys under this prefix.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Where and how a restore writes.
    #[serde(default)]
    pub restore: EtcdRestoreSection,
}

/// `[etcd.restore]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdRestoreSection {
    /// The cluster to restore into (default: `location`).
    #[serde(default)]
    pub to: Option<String>,
    /// Restore into a cluster with another ID (a freshly installed one).
    #[serde(default)]
    pub any_cluster: bool,
    /// Write one JSON line per change to this file.
    #[serde(default)]
    pub audit: Option<PathBuf>,
}

/// `[git]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitSection {
    /// A repository, or a folder searched for repositories.
    pub path: PathBuf,
    /// Where a restore pushes each repository as a mirror: a URL template
    /// with `{repo}` (`file:///srv/git/{repo}.git`, `ssh://git@host/{repo}.git`).
    #[serde(default)]
    pub push: Option<String>,
    /// Or: an empty folder a restore recreates the repositories in, bare.
    #[serde(default)]
    pub restore_dir: Option<PathBuf>,
}

/// `[[files]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesSection {
    /// A file or folder.
    pub path: PathBuf,
    /// Globs left out of the backup, and left alone by a restore: without
    /// `/` they match names, with one paths relative to `path` (or absolute).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Whether a restore deletes what the snapshot lacks under `path`.
    #[serde(default = "yes")]
    pub delete_extra: bool,
}

fn yes() -> bool {
    true
}

impl PlatformProfile {
    /// Reads and checks a profile.
    pub fn load(file: &Path) -> Result<PlatformProfile, ProfileError> {
        let text = std::fs::read_to_string(file).map_err(|e| ProfileError::Read {
            path: file.display().to_string(),
            source: e,
        })?;
        Self::parse(&text, file)
    }

    /// Parses profile text read from `file` (relative paths in it are
    /// relative to the file's folder).
    pub fn parse(text: &str, file: &Path) -> Result<PlatformProfile, ProfileError> {
        let invalid = |reason: String| ProfileError::Invalid {
            path: file.display().to_string(),
            reason,
        };
        let mut p: PlatformProfile =
            toml::from_str(text).map_err(|e| invalid(e.to_string().trim().replace('\n', " ")))?;
        let base = std::path::absolute(file)
            .ok()
            .and_then(|f| f.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("/"));
        p.file = file.to_path_buf();
        let abs = |path: &mut PathBuf| *path = clean(&base.join(&*path));
        if let Some(r) = &mut p.repository {
            r.password_file.iter_mut().for_each(abs);
            if r.password_file.is_some() && r.password_command.is_some() {
                return Err(invalid(
                    "[repository] gives both password_file and password_command: keep one".into(),
                ));
            }
            // A plain folder location is relative to the profile too.
            if !r.location.contains(':') {
                r.location = clean(&base.join(&r.location)).display().to_string();
            }
        }
        if let Some(e) = &mut p.etcd {
            for f in [&mut e.cacert, &mut e.cert, &mut e.key, &mut e.password_file] {
                f.iter_mut().for_each(abs);
            }
            e.restore.audit.iter_mut().for_each(abs);
            parse_location(&e.location)
                .map_err(|err| invalid(format!("[etcd] location: {err}")))?;
            if let Some(to) = &e.restore.to {
                parse_location(to).map_err(|err| invalid(format!("[etcd.restore] to: {err}")))?;
            }
            if e.cert.is_some() != e.key.is_some() {
                return Err(invalid(
                    "[etcd] gives cert without key or key without cert: give both".into(),
                ));
            }
        }
        if let Some(g) = &mut p.git {
            abs(&mut g.path);
            g.restore_dir.iter_mut().for_each(abs);
            if g.push.is_some() && g.restore_dir.is_some() {
                return Err(invalid(
                    "[git] gives both push and restore_dir: a restore either pushes to a server or recreates the repositories in a folder".into(),
                ));
            }
            if let Some(push) = &g.push {
                if !push.contains("{repo}") {
                    return Err(invalid(format!("[git] push = {push:?} has no {{repo}}: every repository would be pushed to the same URL; write it like \"file:///srv/git/{{repo}}.git\"")));
                }
            }
        }
        for f in &mut p.files {
            abs(&mut f.path);
        }
        if let Some(f) = p
            .files
            .iter()
            .find(|f| f.delete_extra && f.path == Path::new("/"))
        {
            return Err(invalid(format!(
                "[[files]] path = \"{}\" would make a restore delete everything on the machine the snapshot lacks: name the folders the platform uses, or set delete_extra = false",
                f.path.display()
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for f in &p.files {
            if !seen.insert(f.path.clone()) {
                return Err(invalid(format!(
                    "[[files]] names {} twice",
                    f.path.display()
                )));
            }
        }
        if p.etcd.is_none() && p.git.is_none() && p.files.is_empty() {
            return Err(invalid(
                "it names no source: add [etcd], [git] or [[files]] sections".into(),
            ));
        }
        Ok(p)
    }

    /// The etcd location, parsed.
    pub fn etcd_location(&self) -> Option<EtcdLocation> {
        self.etcd
            .as_ref()
            .and_then(|e| parse_location(&e.location).ok())
    }

    /// The kinds this profile names, in backup order.
    pub fn kinds(&self) -> Vec<&'static str> {
        KINDS.into_iter().filter(|k| self.has(k)).collect()
    }

    /// Whether the profile names a source of this kind.
    pub fn has(&self, kind: &str) -> bool {
        match kind {
            "etcd" => self.etcd.is_some(),
            "git" => self.git.is_some(),
            "files" => !self.files.is_empty(),
            _ => false,
        }
    }

    /// Every files entry's excludes, as backup patterns: names stay names
    /// (but only under the entry's path), relative paths become absolute.
    pub fn backup_excludes(&self) -> Vec<String> {
        self.files.iter().flat_map(entry_excludes).collect()
    }
}

impl PlatformProfile {
    /// What a restore in place never deletes, in any entry: every entry's
    /// excludes (a backup applies them everywhere, and an entry may lie
    /// inside another), and all of an entry with `delete_extra = false`.
    pub fn restore_keeps(&self) -> Vec<String> {
        let kept = self.files.iter().filter(|f| !f.delete_extra).flat_map(|f| {
            let p = globset::escape(f.path.display().to_string().trim_end_matches('/'));
            [format!("{p}/**"), p]
        });
        self.backup_excludes().into_iter().chain(kept).collect()
    }
}

/// One entry's excludes as absolute patterns under its path.
fn entry_excludes(f: &FilesSection) -> Vec<String> {
    // The path is literal: `[` or `{` in it must not act as glob syntax.
    let base = globset::escape(f.path.display().to_string().trim_end_matches('/'));
    let base = base.as_str();
    f.exclude
        .iter()
        .map(|x| {
            if x.starts_with('/') {
                x.clone()
            } else if x.trim_end_matches('/').contains('/') {
                format!("{base}/{x}")
            } else {
                format!("{base}/**/{x}")
            }
        })
        .collect()
}

/// `a/./b/../c` → `a/c`, without touching the disk.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PlatformProfile, ProfileError> {
        PlatformProfile::parse(text, Path::new("/srv/platform/profile.toml"))
    }

    #[test]
    fn relative_paths_are_relative_to_the_profile() {
        let p = parse(
            r#"
            name = "demo"
            [repository]
            location = "../backups"
            password_file = "secret"
            [git]
            path = "git"
            push = "file:///srv/git/{repo}.git"
            [[files]]
            path = "/etc/platform"
            exclude = ["*.swp", "cache/", "/etc/platform/tmp/**"]
            [[files]]
            path = "./pki"
            "#,
        )
        .unwrap();
        let r = p.repository.as_ref().unwrap();
        assert_eq!(r.location, "/srv/backups");
        assert_eq!(
            r.password_file.as_deref(),
            Some(Path::new("/srv/platform/secret"))
        );
        assert_eq!(p.git.as_ref().unwrap().path, Path::new("/srv/platform/git"));
        assert_eq!(p.files[1].path, Path::new("/srv/platform/pki"));
        assert_eq!(p.kinds(), vec!["git", "files"]);
        assert_eq!(
            p.backup_excludes(),
            vec![
                "/etc/platform/**/*.swp",
                "/etc/platform/**/cache/",
                "/etc/platform/tmp/**"
            ]
        );
    }

    #[test]
    fn the_example_profile_parses() {
        let file = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/platform.toml"
        ));
        let p = PlatformProfile::load(file).unwrap();
        assert_eq!(p.kinds(), vec!["etcd", "git", "files"]);
        assert_eq!(p.files.len(), 3);
        assert!(!p.files[2].delete_extra);
        assert!(p.etcd_location().is_some());
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            ("", "names no source"),
            (
                "[[files]]\npath = \"/a\"\ncolour = 1",
                "unknown field `colour`",
            ),
            ("[etcd]\nlocation = \"http://x:1\"", "[etcd] location"),
            (
                "[git]\npath = \"/g\"\npush = \"file:///srv/a.git\"",
                "has no {repo}",
            ),
            (
                "[git]\npath = \"/g\"\npush = \"/a/{repo}\"\nrestore_dir = \"/b\"",
                "both push and restore_dir",
            ),
            (
                "[[files]]\npath = \"/a\"\n[[files]]\npath = \"/a/\"",
                "twice",
            ),
            (
                "[etcd]\nlocation = \"etcd://a:1\"\ncert = \"c\"",
                "cert without key",
            ),
            ("[[files]]\npath = \"/\"", "delete everything"),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
            assert!(err.contains("/srv/platform/profile.toml"), "{err}");
        }
    }
}
