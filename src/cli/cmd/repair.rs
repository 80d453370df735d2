//! `snap repair index|snapshots`: run the operation and print its report.

use std::io::Write;

use anyhow::Result;

use crate::cli::args::RepairCommand;
use crate::cli::render::json;
use crate::cli::ExitCode;
use crate::ops::repair::index::{repair_index, RepairIndexOptions};
use crate::ops::repair::snapshots::{repair_snapshots, RepairSnapshotsOptions};
use crate::repo::Repository;

/// Runs one repair command.
pub fn run(
    repo: &mut Repository,
    command: &RepairCommand,
    out: &mut impl Write,
    as_json: bool,
    quiet: bool,
) -> Result<ExitCode> {
    match command {
        RepairCommand::Index {
            read_all_packs,
            dry_run,
        } => {
            let options = RepairIndexOptions {
                read_all_packs: *read_all_packs,
                dry_run: *dry_run,
            };
            let r = repair_index(repo, &options)?;
            if as_json {
                json(out, &r)?;
            } else {
                let would = if r.dry_run { "would be " } else { "" };
                for f in &r.index_files_unreadable {
                    writeln!(out, "index file {f} could not be read: {would}replaced")?;
                }
                for p in &r.packs_gone {
                    writeln!(out, "pack {p} is gone: its entries {would}dropped")?;
                }
                for p in &r.packs_unreadable {
                    writeln!(
                        out,
                        "pack {p}: its header cannot be read, so its blobs are not indexed; `snap repair snapshots` cuts what needs them (prune deletes such a pack after its grace period: move it aside to keep it)"
                    )?;
                }
                if !quiet || r.dry_run {
                    writeln!(
                        out,
                        "{} pack(s): {} described by index files, {} header(s) read, {} newly indexed; {} blob(s); {} index file(s) {would}written, {} {would}removed",
                        r.packs,
                        r.packs_from_index,
                        r.headers_read,
                        r.packs_added,
                        r.blobs,
                        r.index_files_written,
                        r.index_files_removed
                    )?;
                }
            }
            Ok(if r.packs_unreadable.is_empty() {
                ExitCode::Ok
            } else {
                ExitCode::CheckFailed
            })
        }
        RepairCommand::Snapshots {
            ids,
            forget,
            dry_run,
            read_data,
        } => {
            let options = RepairSnapshotsOptions {
                snapshots: ids.clone(),
                forget: *forget,
                dry_run: *dry_run,
                read_data: *read_data,
            };
            let r = repair_snapshots(repo, &options)?;
            if as_json {
                json(out, &r)?;
            } else {
                for s in &r.repaired {
                    let short = &s.snapshot[..8];
                    match (&s.repaired_as, r.dry_run) {
                        (_, true) => writeln!(out, "snapshot {short} would be repaired by cutting:")?,
                        (Some(new), false) => writeln!(
                            out,
                            "snapshot {short} repaired as {}{}; cut:",
                            &new[..8],
                            if s.forgotten { " (the damaged one removed)" } else { "" }
                        )?,
                        (None, false) => writeln!(
                            out,
                            "snapshot {short} lost everything: no copy saved; `snap forget {short}` removes it"
                        )?,
                    }
                    for c in &s.cut {
                        writeln!(out, "  {c}")?;
                    }
                }
                for u in &r.unreadable {
                    writeln!(out, "snapshot {u} cannot be read at all: `snap forget` it")?;
                }
                if !quiet {
                    writeln!(
                        out,
                        "{} snapshot(s) checked: {} intact, {} {}",
                        r.snapshots_checked,
                        r.snapshots_intact,
                        r.repaired.len(),
                        if r.dry_run { "to repair" } else { "repaired" }
                    )?;
                }
            }
            Ok(ExitCode::Ok)
        }
    }
}
