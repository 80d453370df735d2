//! `snap forget`: removes snapshots by ID or retention policy, and prunes with --prune.

use std::io::StdoutLock;

use anyhow::Result;

use crate::cli::args::Cli;
use crate::cli::open::open_repo;
use crate::cli::render;
use crate::cli::ExitCode;
use crate::ops;
use crate::snapshot::Selection;

/// Runs `snap forget`.
pub fn run(
    cli: &Cli,
    a: &crate::cli::args::ForgetArgs,
    selection: &Selection,
    out: &mut StdoutLock<'_>,
) -> Result<ExitCode> {
    let repo = open_repo(cli)?;
    let options = ops::forget::ForgetOptions {
        ids: a.ids.clone(),
        policy: ops::retention::RetentionPolicy {
            last: a.keep_last,
            hourly: a.keep_hourly,
            daily: a.keep_daily,
            weekly: a.keep_weekly,
            monthly: a.keep_monthly,
            yearly: a.keep_yearly,
            within: a.keep_within,
            tags: a.keep_tag.clone(),
        },
        group_by: a.group_by,
        hosts: a.host.clone(),
        dry_run: a.dry_run,
        selection: selection.clone(),
    };
    let mut repo = repo;
    let report = ops::forget::forget(&repo, &options)?;
    let skipped = selection.skipped();
    if a.prune {
        let options = super::prune::options(&repo, &a.prune_options, a.dry_run);
        let pruned = ops::prune::prune(&mut repo, &options)?;
        if cli.json {
            let mut doc = serde_json::json!({"forget": report, "prune": pruned});
            if !skipped.is_empty() {
                doc["skipped_snapshots"] = serde_json::to_value(&skipped)?;
            }
            render::json(out, &doc)?;
        } else {
            render::forget(out, false, cli.quiet, a.dry_run, true, &report, &skipped)?;
            render::prune(out, cli.quiet, &pruned)?;
        }
    } else {
        render::forget(
            out, cli.json, cli.quiet, a.dry_run, false, &report, &skipped,
        )?;
    }
    Ok(ExitCode::Ok)
}
