//! `snap forget`: removes snapshots, by ID or by a retention policy applied
//! to each group of snapshots (by default, the same host and paths). Only
//! snapshot files are removed; the data they alone used stays until a prune.
//!
//! A shared lock is enough: backups may run meanwhile (a backup whose parent
//! is forgotten relies only on blobs in its loaded index, which prune's grace
//! period protects), and removing a snapshot twice is harmless.
//!
//! A policy needs every snapshot: with a damaged snapshot file it is refused,
//! since the file's time, host and tags are unknown and deciding without it
//! could remove what it would have made redundant, or count it wrongly. When
//! damaged files are skipped, they are neither kept nor removed by the
//! policy: a damaged file is only ever removed when named by its ID.

use std::collections::BTreeMap;

use serde::Serialize;

use super::retention::{decide, Candidate, RetentionPolicy};
use super::OpError;
use crate::id::{FileKind, SnapshotId};
use crate::repo::{LockKind, RepoError, Repository};
use crate::snapshot::{find_snapshot, resolve_id, Selection, SnapshotError, SnapshotManifest};

/// What snapshots are grouped by before a policy applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupBy {
    /// Same host.
    pub host: bool,
    /// Same set of paths.
    pub paths: bool,
    /// Same set of tags.
    pub tags: bool,
}

impl Default for GroupBy {
    fn default() -> Self {
        GroupBy {
            host: true,
            paths: true,
            tags: false,
        }
    }
}

impl GroupBy {
    /// Parses a comma-separated list of `host`, `paths`, `tags` (empty:
    /// one group of everything).
    pub fn parse(text: &str) -> Result<GroupBy, String> {
        let mut g = GroupBy {
            host: false,
            paths: false,
            tags: false,
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "host" => g.host = true,
                "paths" => g.paths = true,
                "tags" => g.tags = true,
                other => return Err(format!("{other}: group by host, paths and/or tags")),
            }
        }
        Ok(g)
    }
}

/// The group a snapshot falls in.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct GroupKey {
    /// The host, when grouping by host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The sorted paths, when grouping by paths.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    /// The sorted tags, when grouping by tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

fn key_of(by: GroupBy, m: &SnapshotManifest) -> GroupKey {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    GroupKey {
        host: by.host.then(|| m.hostname.clone()),
        paths: by.paths.then(|| sorted(&m.paths)),
        tags: by.tags.then(|| sorted(&m.tags)),
    }
}

/// One snapshot's fate.
#[derive(Debug, Serialize)]
pub struct Decision {
    /// Its ID.
    pub id: String,
    /// When it was taken (RFC 3339); unknown for a damaged file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Why it is kept; empty when it is removed.
    pub reasons: Vec<String>,
    /// Why its file cannot be used, when it is damaged (removed by ID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damaged: Option<String>,
}

/// The decisions for one group.
#[derive(Debug, Serialize)]
pub struct GroupReport {
    /// The group.
    pub group: GroupKey,
    /// Kept, newest first.
    pub keep: Vec<Decision>,
    /// Removed (or, with `dry_run`, to be removed), newest first.
    pub remove: Vec<Decision>,
}

/// What to forget.
#[derive(Clone, Debug, Default)]
pub struct ForgetOptions {
    /// Snapshots named explicitly (IDs or prefixes); when given, no policy applies.
    pub ids: Vec<String>,
    /// The policy for everything else.
    pub policy: RetentionPolicy,
    /// Grouping for the policy.
    pub group_by: GroupBy,
    /// Only these hosts are considered (empty: all).
    pub hosts: Vec<String>,
    /// Decide and report, remove nothing.
    pub dry_run: bool,
    /// How damaged snapshot files are treated by a policy and by `latest`.
    pub selection: Selection,
}

/// Errors particular to `forget`.
#[derive(Debug, thiserror::Error)]
pub enum ForgetError {
    /// Neither IDs nor a policy.
    #[error("nothing to decide: give snapshot IDs, or a policy (--keep-last, --keep-daily, --keep-within, --keep-tag...); a policy that keeps nothing is refused")]
    NoPolicy,
}

/// Applies `options`; see the module documentation.
pub fn forget(repo: &Repository, options: &ForgetOptions) -> Result<Vec<GroupReport>, OpError> {
    let _lock = repo.lock(LockKind::Shared)?;
    if !options.ids.is_empty() {
        let mut remove = Vec::new();
        for query in &options.ids {
            remove.push(named(repo, query, &options.selection)?);
        }
        remove.dedup_by(|a, b| a.id == b.id);
        let report = vec![GroupReport {
            group: GroupKey::default(),
            keep: Vec::new(),
            remove,
        }];
        apply(repo, &report, options.dry_run)?;
        return Ok(report);
    }
    if options.policy.is_empty() {
        return Err(ForgetError::NoPolicy.into());
    }
    // Deciding without every snapshot could remove the wrong ones.
    let list = options.selection.list(repo)?;
    let mut groups: BTreeMap<GroupKey, Vec<(SnapshotId, SnapshotManifest)>> = BTreeMap::new();
    for (id, m) in list {
        if options.hosts.is_empty() || options.hosts.contains(&m.hostname) {
            groups
                .entry(key_of(options.group_by, &m))
                .or_default()
                .push((id, m));
        }
    }
    let mut report = Vec::new();
    for (group, mut members) in groups {
        // Newest first.
        members.sort_by(|a, b| b.1.time.cmp(&a.1.time).then(a.0.cmp(&b.0)));
        let candidates: Vec<Candidate> = members
            .iter()
            .map(|(_, m)| Candidate {
                time: m.time,
                tags: m.tags.clone(),
            })
            .collect();
        let reasons = decide(&options.policy, &candidates);
        let (mut keep, mut remove) = (Vec::new(), Vec::new());
        for ((id, m), why) in members.iter().zip(reasons) {
            if why.is_empty() {
                remove.push(decision(id, m, why));
            } else {
                keep.push(decision(id, m, why));
            }
        }
        report.push(GroupReport {
            group,
            keep,
            remove,
        });
    }
    apply(repo, &report, options.dry_run)?;
    Ok(report)
}

fn decision(id: &SnapshotId, m: &SnapshotManifest, reasons: Vec<String>) -> Decision {
    Decision {
        id: id.to_hex(),
        time: Some(m.time.to_rfc3339()),
        tags: m.tags.clone(),
        reasons,
        damaged: None,
    }
}

/// The removal of the snapshot `query` names: `latest` as `selection`
/// resolves it, or an ID or prefix, whose file is removed even when it is
/// damaged, since naming it is how a damaged file is got rid of.
fn named(repo: &Repository, query: &str, selection: &Selection) -> Result<Decision, OpError> {
    if query == "latest" {
        let (id, manifest) = selection.find(repo, query, |_| true)?;
        return Ok(decision(&id, &manifest, Vec::new()));
    }
    let id = resolve_id(repo, query)?;
    match find_snapshot(repo, &id.to_hex(), |_| true) {
        Ok((id, manifest)) => Ok(decision(&id, &manifest, Vec::new())),
        Err(SnapshotError::Damaged { snapshot }) => Ok(Decision {
            id: snapshot.id.to_hex(),
            time: None,
            tags: Vec::new(),
            reasons: Vec::new(),
            damaged: Some(snapshot.reason),
        }),
        Err(SnapshotError::NotFound { .. }) => Err(SnapshotError::NotFound {
            query: query.into(),
        }
        .into()),
        Err(e) => Err(e.into()),
    }
}

fn apply(repo: &Repository, report: &[GroupReport], dry_run: bool) -> Result<(), OpError> {
    if dry_run {
        return Ok(());
    }
    for d in report.iter().flat_map(|g| &g.remove) {
        repo.backend()
            .remove(FileKind::Snapshot, &d.id)
            .map_err(RepoError::from)?;
    }
    Ok(())
}
