//! Applying a restore plan (spec §14.4 step 4): batches within etcd's
//! limits, several transactions in flight (etcd commits concurrent
//! proposals together, so throughput grows while each keeps its own
//! guard), conflicts found per key, the audit written as batches land.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::Serialize;

use super::{etcd_err, Planned, SnapKey};
use crate::etcd::{EtcdClient, EtcdError, Op};
use crate::id::Id;
use crate::restore::stage::BlobStage;
use crate::restore::RestoreError;
use crate::snapshot::NodeName;

/// Transactions in flight at once.
const IN_FLIGHT: usize = 4;

/// What applies the plan.
pub(super) struct Applier<'a> {
    pub stage: &'a BlobStage,
    pub client: &'a EtcdClient,
    pub snap: &'a [SnapKey],
    pub lease_map: &'a BTreeMap<i64, i64>,
    pub force: bool,
    pub max_ops: usize,
    pub max_bytes: usize,
}

/// Where audit lines go: the writer and its path (for messages).
pub(super) type AuditSink<'a> = Option<(&'a mut (dyn Write + Send), PathBuf)>;

/// What applying did.
pub(super) struct Applied {
    /// Keys changed by others, left alone.
    pub conflicts: Vec<Vec<u8>>,
    /// The highest revision a transaction made.
    pub revision: i64,
}

/// One line of `--audit`: a change applied, at the revision it made.
#[derive(Serialize)]
struct AuditLine {
    key: NodeName,
    action: &'static str,
    old_hash: Option<Id>,
    new_hash: Option<Id>,
    revision: i64,
}

/// What landed of one batch.
struct Outcome {
    revision: i64,
    applied: Vec<usize>,
    conflicts: Vec<Vec<u8>>,
}

struct Shared<'a> {
    audit: AuditSink<'a>,
    applied: usize,
    conflicts: Vec<Vec<u8>>,
    revision: i64,
    error: Option<RestoreError>,
}

impl Applier<'_> {
    /// Applies `plan` in key order, batch by batch, several at once.
    pub fn apply(
        &self,
        plan: &[Planned],
        revision: i64,
        audit: AuditSink<'_>,
    ) -> Result<Applied, RestoreError> {
        let batches = self.batches(plan);
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let shared = Mutex::new(Shared {
            audit,
            applied: 0,
            conflicts: Vec::new(),
            revision,
            error: None,
        });
        let this = self;
        std::thread::scope(|scope| {
            for _ in 0..IN_FLIGHT.min(batches.len()) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= batches.len() || failed.load(Ordering::Relaxed) {
                        return;
                    }
                    // Ctrl-C stops between transactions, each applied whole.
                    if crate::interrupt::requested() {
                        failed.store(true, Ordering::Relaxed);
                        let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                        let applied = s.applied;
                        s.error.get_or_insert(RestoreError::InterruptedEtcd {
                            applied,
                            total: plan.len(),
                        });
                        return;
                    }
                    let batch = &plan[batches[i].clone()];
                    let result = this.apply_batch(batch).and_then(|outcome| {
                        let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                        s.revision = s.revision.max(outcome.revision);
                        s.applied += outcome.applied.len();
                        s.conflicts.extend(outcome.conflicts);
                        if let Some((w, path)) = s.audit.as_mut() {
                            for &j in &outcome.applied {
                                this.audit_line(&mut **w, path, &batch[j], outcome.revision)?;
                            }
                        }
                        Ok(())
                    });
                    if let Err(e) = result {
                        failed.store(true, Ordering::Relaxed);
                        let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                        s.error.get_or_insert(e);
                        return;
                    }
                });
            }
        });
        let s = shared.into_inner().unwrap_or_else(|e| e.into_inner());
        match s.error {
            // Batches in flight when the signal came have landed since.
            Some(RestoreError::InterruptedEtcd { total, .. }) => {
                return Err(RestoreError::InterruptedEtcd {
                    applied: s.applied,
                    total,
                })
            }
            Some(e) => return Err(e),
            None => {}
        }
        let mut conflicts = s.conflicts;
        conflicts.sort();
        Ok(Applied {
            conflicts,
            revision: s.revision,
        })
    }

    /// Index ranges of `plan`: as many changes as the limits allow, a lone
    /// change always.
    fn batches(&self, plan: &[Planned]) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < plan.len() {
            let mut bytes = 0;
            let mut end = start;
            for p in plan[start..].iter().take(self.max_ops) {
                let size = p.key.len() + p.index.map_or(0, |i| self.snap[i].size as usize);
                if end > start && bytes + size > self.max_bytes {
                    break;
                }
                bytes += size;
                end += 1;
            }
            out.push(start..end);
            start = end;
        }
        out
    }

    /// One transaction guarded by the mod revisions read; on a failed guard,
    /// the keys others changed are set aside and the rest tried again; a
    /// transaction etcd finds too large is split in halves.
    fn apply_batch(&self, batch: &[Planned]) -> Result<Outcome, RestoreError> {
        let values: Vec<Option<Vec<u8>>> = batch
            .par_iter()
            .map(|p| {
                p.index
                    .map(|i| super::staged_value(self.stage, &self.snap[i]))
                    .transpose()
            })
            .collect::<Result<_, _>>()?;
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        let mut conflicts = Vec::new();
        loop {
            if pending.is_empty() {
                return Ok(Outcome {
                    revision: 0,
                    applied: Vec::new(),
                    conflicts,
                });
            }
            let ops: Vec<Op> = pending
                .iter()
                .map(|&j| match (&values[j], batch[j].index) {
                    (Some(v), Some(i)) => Op::Put {
                        key: batch[j].key.clone(),
                        value: v.clone(),
                        lease: self
                            .lease_map
                            .get(&self.snap[i].lease)
                            .copied()
                            .unwrap_or(0),
                    },
                    _ => Op::Delete {
                        key: batch[j].key.clone(),
                    },
                })
                .collect();
            let compares: Vec<(Vec<u8>, i64)> = if self.force {
                Vec::new()
            } else {
                pending
                    .iter()
                    .map(|&j| (batch[j].key.clone(), batch[j].expect_mod))
                    .collect()
            };
            match self.client.txn(&compares, &ops) {
                Ok((true, revision)) => {
                    return Ok(Outcome {
                        revision,
                        applied: pending,
                        conflicts,
                    })
                }
                Ok((false, _)) => {
                    let mut still = Vec::new();
                    for &j in &pending {
                        let page = self
                            .client
                            .range(&batch[j].key, &[], 0, 1)
                            .map_err(etcd_err)?;
                        let now = page.kvs.first().map_or(0, |kv| kv.mod_revision);
                        if now == batch[j].expect_mod {
                            still.push(j);
                        } else {
                            conflicts.push(batch[j].key.clone());
                        }
                    }
                    pending = still;
                }
                Err(EtcdError::Refused { message, .. })
                    if pending.len() > 1 && is_too_big(&message) =>
                {
                    let half = pending.len() / 2;
                    let parts: Vec<Vec<Planned>> = [&pending[..half], &pending[half..]]
                        .iter()
                        .map(|part| part.iter().map(|&j| batch[j].clone()).collect())
                        .collect();
                    let first = self.apply_batch(&parts[0])?;
                    let second = self.apply_batch(&parts[1])?;
                    // Indices of the halves back to this batch's.
                    let mut applied: Vec<usize> =
                        first.applied.iter().map(|&k| pending[k]).collect();
                    applied.extend(second.applied.iter().map(|&k| pending[half + k]));
                    conflicts.extend(first.conflicts);
                    conflicts.extend(second.conflicts);
                    return Ok(Outcome {
                        revision: first.revision.max(second.revision),
                        applied,
                        conflicts,
                    });
                }
                Err(EtcdError::Refused { message, .. }) if is_too_big(&message) => {
                    let j = pending[0];
                    return Err(RestoreError::Etcd(format!(
                        "etcd refused the value of {:?} ({} bytes): {message}; raise the cluster's --max-request-bytes and restore again (what was restored so far stays)",
                        String::from_utf8_lossy(&batch[j].key),
                        values[j].as_ref().map_or(0, Vec::len)
                    )));
                }
                Err(e) => return Err(etcd_err(e)),
            }
        }
    }

    fn audit_line(
        &self,
        w: &mut dyn Write,
        path: &std::path::Path,
        p: &Planned,
        revision: i64,
    ) -> Result<(), RestoreError> {
        let (action, new_hash) = match p.index {
            Some(i) => ("put", Some(self.snap[i].hash)),
            None => ("delete", None),
        };
        let line = AuditLine {
            key: NodeName(p.key.clone()),
            action,
            old_hash: p.old_hash,
            new_hash,
            revision,
        };
        let text = serde_json::to_string(&line).expect("audit lines serialize");
        writeln!(w, "{text}").map_err(|e| RestoreError::Io {
            action: "write the audit file",
            path: path.display().to_string(),
            source: e,
        })
    }
}

fn is_too_big(message: &str) -> bool {
    message.contains("too many operations")
        || message.contains("request is too large")
        || message.contains("message larger than max")
        || message.contains("trying to send message larger")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_messages() {
        assert!(is_too_big("etcdserver: too many operations in txn request"));
        assert!(is_too_big("etcdserver: request is too large"));
        assert!(!is_too_big("etcdserver: key not found"));
    }
}
