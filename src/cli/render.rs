//! Rendering reports as text for people or JSON for programs.

use std::io::Write;

use anyhow::Result;

use crate::ops;
use crate::snapshot::DamagedSnapshot;

fn bytes(n: u64) -> String {
    crate::repo::bytes_text(n)
}

/// A name or path as a terminal shows it safely: control characters
/// (newlines, escape sequences that could rewrite the screen) and
/// backslashes are escaped C-style when there are any; plain names are
/// shown as they are. JSON output carries the exact bytes instead.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() || c == '\\') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

pub fn json(out: &mut impl Write, value: &impl serde::Serialize) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// The element that opens an array output when damaged snapshot files were
/// skipped: object outputs carry the same `skipped_snapshots` member at
/// their top level (README, "Damaged snapshots").
fn skipped_element(skipped: &[DamagedSnapshot]) -> serde_json::Value {
    serde_json::json!({ "skipped_snapshots": skipped })
}

/// An array output, opened by [`skipped_element`] when something was skipped.
fn json_array<T: serde::Serialize>(
    out: &mut impl Write,
    items: &[T],
    skipped: &[DamagedSnapshot],
) -> Result<()> {
    if skipped.is_empty() {
        return json(out, &items);
    }
    let mut all = vec![skipped_element(skipped)];
    for item in items {
        all.push(serde_json::to_value(item)?);
    }
    json(out, &all)
}

pub fn init(out: &mut impl Write, as_json: bool, r: &ops::init::InitReport) -> Result<()> {
    if as_json {
        return json(out, r);
    }
    writeln!(
        out,
        "created repository {} at {}",
        &r.repository_id[..8],
        r.location
    )?;
    writeln!(
        out,
        "keep the password safe: without it the data cannot be recovered"
    )?;
    Ok(())
}

pub fn backup(
    out: &mut impl Write,
    as_json: bool,
    quiet: bool,
    r: &ops::backup::BackupReport,
) -> Result<()> {
    if as_json {
        return json(out, r);
    }
    let s = &r.summary;
    if !quiet {
        for source in &r.sources {
            if source.kind == "git" {
                writeln!(
                    out,
                    "git: {} repositories, {} objects from {}",
                    source.resources, s.git_objects, source.location
                )?;
            }
            if source.kind == "files" && r.sources.len() > 1 {
                writeln!(
                    out,
                    "files: {} ({} files, folders and links)",
                    source.location, source.resources
                )?;
            }
            if let Some(e) = &source.etcd {
                writeln!(
                    out,
                    "etcd: {} keys ({}) of cluster {} (etcd {}) at revision {}",
                    e.keys,
                    bytes(e.value_bytes),
                    e.cluster_id,
                    e.server_version,
                    e.revision
                )?;
            }
        }
        if s.files_new + s.files_changed + s.files_unchanged + s.dirs > 0 {
            writeln!(
                out,
                "files: {} new, {} changed, {} unchanged; {} folders",
                s.files_new, s.files_changed, s.files_unchanged, s.dirs
            )?;
        }
        writeln!(
            out,
            "added to the repository: {} ({} stored) in {} new blobs; {} read of {} in {:.2}s",
            bytes(s.data_added),
            bytes(s.data_added_stored),
            s.blobs_added,
            bytes(s.bytes_read),
            bytes(s.total_bytes),
            s.duration_seconds
        )?;
    }
    writeln!(out, "snapshot {} saved", r.snapshot_id)?;
    Ok(())
}

pub fn snapshots(
    out: &mut impl Write,
    as_json: bool,
    rows: &[ops::snapshots::SnapshotRow],
) -> Result<()> {
    if as_json {
        return json(out, &rows);
    }
    writeln!(
        out,
        "{:<8}  {:<19}  {:<16}  {:<16}  {:>10}  paths",
        "ID", "time", "host", "tags", "size"
    )?;
    for r in rows {
        let Some(m) = &r.manifest else {
            let reason = r.damaged.as_deref().unwrap_or("unknown");
            writeln!(out, "{:<8}  damaged: {reason}", r.short_id)?;
            continue;
        };
        let failed: Vec<&str> = m
            .sources
            .iter()
            .flat_map(|s| s.failed.iter().map(String::as_str))
            .collect();
        let failed = match failed.len() {
            0 => String::new(),
            1 => format!("  (1 git repository failed: {})", failed[0]),
            n => format!("  ({n} git repositories failed: {})", failed.join(", ")),
        };
        writeln!(
            out,
            "{:<8}  {:<19}  {:<16}  {:<16}  {:>10}  {}{failed}",
            r.short_id,
            m.time
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S"),
            m.hostname,
            m.tags.join(","),
            bytes(m.summary.total_bytes),
            m.sources
                .iter()
                .filter(|s| s.kind != "files")
                .map(|s| s.location.as_str())
                .chain(m.paths.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        )?;
    }
    let damaged = rows.iter().filter(|r| r.manifest.is_none()).count();
    if damaged == 0 {
        writeln!(out, "{} snapshot(s)", rows.len())?;
    } else {
        writeln!(
            out,
            "{} snapshot(s), and {damaged} damaged snapshot file(s) (`snap check` says more, `snap forget ID` removes one)",
            rows.len() - damaged
        )?;
    }
    Ok(())
}

/// Streams items as they come: a JSON array with `as_json`, else one line
/// each through `line`. Returns what `run` returns. The array is opened at
/// the first item (or the end), once the snapshots are resolved, so that
/// an error before prints nothing, and what `skipped` returns then (damaged
/// snapshot files left out) comes first, as [`skipped_element`].
fn stream<W: Write, T: serde::Serialize, R>(
    out: &mut W,
    as_json: bool,
    skipped: &dyn Fn() -> Vec<DamagedSnapshot>,
    line: impl Fn(&mut W, &T) -> std::io::Result<()>,
    run: impl FnOnce(&mut dyn FnMut(&T)) -> Result<R, ops::OpError>,
) -> Result<R> {
    let mut first = true;
    let mut failed: Option<std::io::Error> = None;
    // Writes `[` and the skipped element, if any; returns whether an
    // element was written.
    let open = |out: &mut W| -> std::io::Result<bool> {
        write!(out, "[")?;
        let skipped = skipped();
        if skipped.is_empty() {
            return Ok(false);
        }
        writeln!(out)?;
        serde_json::to_writer(&mut *out, &skipped_element(&skipped))
            .map_err(std::io::Error::other)?;
        Ok(true)
    };
    let mut opened = false;
    let result = run(&mut |item| {
        if failed.is_some() {
            return;
        }
        let written = if as_json {
            let mut any = !first;
            let opening = if first {
                opened = true;
                open(out).map(|wrote| any = wrote)
            } else {
                Ok(())
            };
            let sep = if any { ",\n" } else { "\n" };
            opening
                .and_then(|_| write!(out, "{sep}"))
                .and_then(|_| serde_json::to_writer(&mut *out, item).map_err(std::io::Error::other))
        } else {
            line(out, item)
        };
        first = false;
        if let Err(err) = written {
            failed = Some(err);
        }
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    if as_json {
        if !opened {
            open(out)?;
        }
        writeln!(out, "\n]")?;
    }
    Ok(result)
}

pub fn ls<W: Write>(
    out: &mut W,
    as_json: bool,
    skipped: &dyn Fn() -> Vec<DamagedSnapshot>,
    run: impl FnOnce(
        &mut dyn FnMut(&ops::ls::LsEntry),
    ) -> Result<(String, crate::snapshot::SnapshotManifest), ops::OpError>,
) -> Result<()> {
    let line = |out: &mut W, e: &ops::ls::LsEntry| {
        let kind = format!("{:?}", e.node_type).to_lowercase();
        if let Some(git) = &e.git {
            match (&git.error, e.git_packs) {
                (Some(why), _) => writeln!(
                    out,
                    "gitrepo  not captured {}: {}",
                    shown(&e.path),
                    shown(why)
                )?,
                (None, Some(packs)) => writeln!(
                    out,
                    "gitrepo  {:>8} objects in {packs} pack(s) {}",
                    git.objects,
                    shown(&e.path)
                )?,
                (None, None) => writeln!(
                    out,
                    "gitrepo  {:>8} objects {}",
                    git.objects,
                    shown(&e.path)
                )?,
            }
            for r in &git.refs {
                let arrow = if r.symbolic { "=>" } else { "->" };
                writeln!(
                    out,
                    "gitref   {}  {} {arrow} {}",
                    shown(&e.path),
                    shown(&r.name),
                    shown(&r.target)
                )?;
            }
            return Ok(());
        }
        if let Some(meta) = &e.etcd {
            // A key: size, revision, and what Kubernetes object it holds.
            let mut what = String::new();
            if let Some(k) = &e.kubernetes {
                what = match &k.namespace {
                    Some(ns) => {
                        format!("  {} {}/{}", shown(&k.resource), shown(ns), shown(&k.name))
                    }
                    None => format!("  {} {}", shown(&k.resource), shown(&k.name)),
                };
            }
            if let (Some(api), Some(k)) = (&meta.api_version, &meta.kind) {
                what.push_str(&format!(" ({} {})", shown(api), shown(k)));
            }
            return writeln!(
                out,
                "{kind:<8} rev {:<10} {:>12} {}{what}",
                meta.mod_revision,
                e.size,
                shown(&e.path)
            );
        }
        let link = e
            .link_target
            .as_deref()
            .map(|t| format!(" -> {}", shown(t)))
            .unwrap_or_default();
        writeln!(
            out,
            "{kind:<8} {:04o} {:>12} {} {}{link}",
            e.mode,
            e.size,
            &e.mtime[..19],
            shown(&e.path)
        )
    };
    let (id, _) = stream(out, as_json, skipped, line, run)?;
    if !as_json {
        writeln!(out, "snapshot {id}")?;
    }
    Ok(())
}

/// `diff`: `M /path` lines, then a count.
pub fn diff<W: Write>(
    out: &mut W,
    as_json: bool,
    skipped: &dyn Fn() -> Vec<DamagedSnapshot>,
    run: impl FnOnce(&mut dyn FnMut(&ops::diff::Difference)) -> Result<(String, String), ops::OpError>,
) -> Result<()> {
    let mut count = 0usize;
    let counted = |emit: &mut dyn FnMut(&ops::diff::Difference)| {
        run(&mut |d| {
            count += 1;
            emit(d)
        })
    };
    let line = |out: &mut W, d: &ops::diff::Difference| {
        writeln!(out, "{}  {}", d.change.mark(), shown(&d.path))
    };
    let (old, new) = stream(out, as_json, skipped, line, counted)?;
    if !as_json {
        writeln!(out, "{count} change(s) from {} to {}", &old[..8], &new[..8])?;
    }
    Ok(())
}

/// `find`: `snapshot time path` lines, then a count.
pub fn find<W: Write>(
    out: &mut W,
    as_json: bool,
    skipped: &dyn Fn() -> Vec<DamagedSnapshot>,
    run: impl FnOnce(&mut dyn FnMut(&ops::find::Found)) -> Result<usize, ops::OpError>,
) -> Result<()> {
    let line = |out: &mut W, f: &ops::find::Found| {
        writeln!(
            out,
            "{}  {}  {:>12}  {}",
            &f.snapshot[..8],
            short_time(&f.time),
            f.size,
            shown(&f.path)
        )
    };
    let count = stream(out, as_json, skipped, line, run)?;
    if !as_json {
        writeln!(out, "{count} match(es)")?;
    }
    Ok(())
}

pub fn restore(
    out: &mut impl Write,
    as_json: bool,
    quiet: bool,
    r: &ops::restore::RestoreOpReport,
) -> Result<()> {
    if as_json {
        return json(out, r);
    }
    if !quiet {
        let x = &r.report;
        if !r.git_only {
            writeln!(
                out,
                "restored snapshot {} to {}: {} files ({}), {} folders, {} links and special files, {} hard links",
                &r.snapshot_id[..8],
                r.target,
                x.files,
                bytes(x.bytes),
                x.dirs,
                x.specials,
                x.hardlinks
            )?;
        }
        git_repos(out, &r.git, r.dry_run)?;
    }
    Ok(())
}

/// Restored git repositories and what pushing them changed (or would).
pub fn git_repos(
    out: &mut impl Write,
    repos: &[crate::restore::git::GitRepoRestored],
    dry_run: bool,
) -> Result<()> {
    for g in repos {
        if g.not_captured.is_some() {
            // Said on stderr as a warning.
            continue;
        }
        let Some(p) = &g.push else {
            writeln!(
                out,
                "git repository {} -> {} ({} refs, {} objects)",
                g.name, g.path, g.refs, g.objects
            )?;
            continue;
        };
        let (verb, created, updated, deleted) = if dry_run {
            (
                "dry run: would push",
                "would create",
                "would update",
                "would delete",
            )
        } else {
            ("pushed", "created", "updated", "deleted")
        };
        writeln!(
            out,
            "git repository {} ({} refs, {} objects) {verb} to {}: {} {created}, {} {updated}, {} {deleted}, {} unchanged",
            g.name,
            g.refs,
            g.objects,
            p.url,
            p.created.len(),
            p.updated.len(),
            p.deleted.len(),
            p.unchanged
        )?;
        for (mark, refs) in [("+", &p.created), ("M", &p.updated), ("-", &p.deleted)] {
            for r in refs.iter() {
                writeln!(out, "  {mark}  {r}")?;
            }
        }
    }
    Ok(())
}

/// `check`: problems one per line, then a summary; quiet prints only problems.
pub fn check(
    out: &mut impl Write,
    as_json: bool,
    quiet: bool,
    report: &ops::check::CheckReport,
) -> Result<()> {
    if as_json {
        return json(out, report);
    }
    for e in &report.errors {
        writeln!(out, "error: {e}")?;
    }
    for w in &report.warnings {
        writeln!(out, "warning: {w}")?;
    }
    if !quiet {
        let read = if report.packs_read > 0 {
            format!(", data of {} pack(s) read", report.packs_read)
        } else {
            format!(", {} pack header(s) read", report.headers_read)
        };
        writeln!(
            out,
            "{} snapshot(s), {} index file(s), {} pack(s), {} blob(s) checked{read}: {}",
            report.snapshots,
            report.index_files,
            report.packs,
            report.blobs,
            if report.errors.is_empty() {
                "no errors".to_string()
            } else {
                format!("{} error(s)", report.errors.len())
            }
        )?;
    }
    if !report.repair.is_empty() {
        writeln!(out, "to repair, run: {}", report.repair.join(", then "))?;
    }
    Ok(())
}

/// `unlock`: what was removed and what was kept.
pub fn unlock(
    out: &mut impl Write,
    as_json: bool,
    quiet: bool,
    report: &ops::unlock::UnlockReport,
) -> Result<()> {
    if as_json {
        return json(out, report);
    }
    if quiet {
        return Ok(());
    }
    for r in &report.removed {
        writeln!(out, "removed {r}")?;
    }
    for k in &report.kept {
        writeln!(
            out,
            "kept {k}: it is live; use --remove-all only if its process is gone"
        )?;
    }
    writeln!(
        out,
        "{} lock(s) removed, {} kept",
        report.removed.len(),
        report.kept.len()
    )?;
    Ok(())
}

/// `key list`.
pub fn keys(out: &mut impl Write, as_json: bool, rows: &[ops::key::KeyRow]) -> Result<()> {
    if as_json {
        return json(out, &rows);
    }
    writeln!(
        out,
        "  {:<8}  {:<25}  {:<16}  user",
        "ID", "created", "host"
    )?;
    for r in rows {
        writeln!(
            out,
            "{} {:<8}  {:<30}  {:<16}  {}",
            if r.current { "*" } else { " " },
            &r.id[..8],
            r.created,
            r.hostname,
            r.username
        )?;
    }
    writeln!(out, "{} key(s); * marks the one in use", rows.len())?;
    Ok(())
}

/// A one-line outcome: `{"action": ..., "what": ...}` with --json.
pub fn line(
    out: &mut impl Write,
    as_json: bool,
    quiet: bool,
    action: &str,
    what: &str,
) -> Result<()> {
    if as_json {
        return json(out, &serde_json::json!({ "action": action, "what": what }));
    }
    if !quiet {
        writeln!(out, "{action} {what}")?;
    }
    Ok(())
}

/// `forget`: per group, what is kept and why, and what goes.
pub fn forget(
    out: &mut impl Write,
    as_json: bool,
    quiet: bool,
    dry_run: bool,
    pruning: bool,
    groups: &[ops::forget::GroupReport],
    skipped: &[DamagedSnapshot],
) -> Result<()> {
    if as_json {
        return json_array(out, groups, skipped);
    }
    let mut removed = 0;
    for g in groups {
        removed += g.remove.len();
        if quiet {
            continue;
        }
        let mut name = Vec::new();
        if let Some(h) = &g.group.host {
            name.push(format!("host {h}"));
        }
        if let Some(p) = &g.group.paths {
            name.push(format!("paths [{}]", p.join(", ")));
        }
        if let Some(t) = &g.group.tags {
            name.push(format!("tags [{}]", t.join(", ")));
        }
        if !name.is_empty() {
            writeln!(out, "{}:", name.join(", "))?;
        }
        if !g.keep.is_empty() {
            writeln!(out, "  keep {} snapshot(s):", g.keep.len())?;
            for d in &g.keep {
                writeln!(
                    out,
                    "    {}  {}  {}",
                    &d.id[..8],
                    d.time.as_deref().unwrap_or(""),
                    d.reasons.join(", ")
                )?;
            }
        }
        if !g.remove.is_empty() {
            let verb = if dry_run { "would remove" } else { "remove" };
            writeln!(out, "  {verb} {} snapshot(s):", g.remove.len())?;
            for d in &g.remove {
                match (&d.time, &d.damaged) {
                    (_, Some(reason)) => writeln!(out, "    {}  damaged: {reason}", &d.id[..8])?,
                    (Some(t), None) => writeln!(out, "    {}  {}", &d.id[..8], short_time(t))?,
                    (None, None) => writeln!(out, "    {}", &d.id[..8])?,
                }
            }
        }
    }
    if !quiet {
        if dry_run {
            writeln!(
                out,
                "{removed} snapshot(s) would be removed (dry run: nothing changed)"
            )?;
        } else if pruning {
            writeln!(out, "{removed} snapshot(s) removed; pruning:")?;
        } else {
            writeln!(
                out,
                "{removed} snapshot(s) removed; their data stays in the repository until a prune"
            )?;
        }
    }
    Ok(())
}

/// `2026-11-27 13:29:53` from an RFC 3339 time (UTC).
fn short_time(rfc3339: &str) -> String {
    rfc3339.get(..19).unwrap_or(rfc3339).replace('T', " ")
}

/// `stats`.
pub fn stats(out: &mut impl Write, as_json: bool, s: &ops::stats::Stats) -> Result<()> {
    if as_json {
        return json(out, s);
    }
    writeln!(out, "snapshots:        {}", s.snapshots)?;
    writeln!(out, "files / folders:  {} / {}", s.files, s.dirs)?;
    writeln!(out, "restore size:     {}", bytes(s.restore_size))?;
    writeln!(
        out,
        "unique data:      {} in {} blobs (deduplication {:.2}x)",
        bytes(s.unique_size),
        s.blobs,
        s.dedup_ratio
    )?;
    writeln!(
        out,
        "stored:           {} (compression {:.2}x)",
        bytes(s.stored_size),
        s.compression_ratio
    )?;
    writeln!(out, "repository packs: {}", bytes(s.repository_size))?;
    Ok(())
}

/// `snap prune` (and the prune half of `forget --prune`).
pub fn prune(out: &mut impl Write, quiet: bool, r: &ops::prune::PruneReport) -> Result<()> {
    for w in &r.warnings {
        eprintln!("snap: warning: {w}");
    }
    if quiet {
        return Ok(());
    }
    let would = |done: &str, planned: &str| if r.dry_run { planned } else { done }.to_string();
    writeln!(
        out,
        "{} snapshot(s) use {} in packs; {} unused before, {} after",
        r.snapshots,
        bytes(r.used_bytes),
        bytes(r.unused_bytes_before),
        bytes(r.unused_bytes_after)
    )?;
    if r.packs_repacked > 0 {
        writeln!(
            out,
            "{} {} pack(s): {} of used blobs moved to new packs",
            would("repacked", "would repack"),
            r.packs_repacked,
            bytes(r.bytes_repacked)
        )?;
    }
    if r.packs_unmarked > 0 {
        writeln!(
            out,
            "{} {} marked pack(s) that a snapshot needs again",
            would("kept", "would keep"),
            r.packs_unmarked
        )?;
    }
    if r.packs_marked > 0 {
        writeln!(
            out,
            "{} {} pack(s) ({}) for deletion after the grace period ({})",
            would("marked", "would mark"),
            r.packs_marked,
            bytes(r.bytes_marked),
            humantime::format_duration(std::time::Duration::from_secs(r.grace_seconds))
        )?;
    }
    if r.packs_waiting > 0 {
        writeln!(
            out,
            "{} pack(s) ({}) marked earlier wait for their grace period to end",
            r.packs_waiting,
            bytes(r.bytes_waiting)
        )?;
    }
    writeln!(
        out,
        "{} {} pack(s), {}",
        would("deleted", "would delete"),
        r.packs_deleted,
        bytes(r.bytes_deleted)
    )?;
    if r.dry_run {
        writeln!(out, "dry run: nothing changed")?;
    }
    Ok(())
}

/// `snap tag`.
pub fn tag(
    out: &mut impl Write,
    as_json: bool,
    quiet: bool,
    report: &[ops::tag::Retagged],
    skipped: &[DamagedSnapshot],
) -> Result<()> {
    if as_json {
        return json_array(out, report, skipped);
    }
    if quiet {
        return Ok(());
    }
    for r in report {
        if r.changed {
            writeln!(
                out,
                "{} -> {}  tags: {}",
                &r.old_id[..8],
                &r.new_id[..8],
                r.tags.join(", ")
            )?;
        } else {
            writeln!(
                out,
                "{} unchanged  tags: {}",
                &r.old_id[..8],
                r.tags.join(", ")
            )?;
        }
    }
    Ok(())
}

/// `snap copy`.
pub fn copy(
    out: &mut impl Write,
    as_json: bool,
    quiet: bool,
    r: &ops::copy::CopyReport,
) -> Result<()> {
    if as_json {
        return json(out, r);
    }
    if quiet {
        return Ok(());
    }
    let copied = r.snapshots.iter().filter(|s| s.copied).count();
    for s in &r.snapshots {
        if s.copied {
            writeln!(out, "copied {} -> {}", &s.source[..8], &s.target[..8])?;
        } else {
            writeln!(
                out,
                "skipped {}: copied earlier as {}",
                &s.source[..8],
                &s.target[..8]
            )?;
        }
    }
    writeln!(
        out,
        "{copied} snapshot(s) copied, {} already there; {} blob(s) read, {} new ({} stored)",
        r.snapshots.len() - copied,
        r.blobs_read,
        r.blobs_added,
        bytes(r.data_added_stored)
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn control_characters_are_escaped_and_plain_names_kept() {
        assert_eq!(shown("/etc/hosts"), "/etc/hosts");
        assert_eq!(shown("/tmp/a\nb"), "/tmp/a\\nb");
        assert_eq!(shown("/x\u{1b}[2J"), "/x\\u{1b}[2J");
        assert_eq!(shown("/back\\slash\t"), "/back\\\\slash\\t");
        assert_eq!(shown("/é/\u{9b}"), "/é/\\u{9b}");
    }
}
