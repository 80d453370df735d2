//! The prune plan: from the index, the pack listing and the set of used
//! blobs, what happens to each pack (spec §7.4). Pure: nothing is read or
//! written here, so every rule is unit-tested.

use std::collections::HashMap;

use crate::id::{BlobId, PackId};
use crate::index::{Index, MarkedPack};
use crate::pack::PackEntry;

/// One bit per indexed blob (positions from [`Index::position`]).
pub struct BlobBits(Vec<u64>);

impl BlobBits {
    /// All clear, for an index of `len` blobs.
    pub fn new(len: usize) -> BlobBits {
        BlobBits(vec![0; len.div_ceil(64)])
    }

    /// Sets bit `i`; returns whether it was clear.
    pub fn insert(&mut self, i: usize) -> bool {
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        let was_clear = self.0[word] & bit == 0;
        self.0[word] |= bit;
        was_clear
    }

    /// Whether bit `i` is set.
    pub fn contains(&self, i: usize) -> bool {
        self.0[i / 64] & (1u64 << (i % 64)) != 0
    }
}

/// How much unused space may stay in packs that are kept.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MaxUnused {
    /// At most this share of the repository's pack bytes after prune.
    Percent(f64),
    /// At most this many bytes.
    Bytes(u64),
    /// Any amount: only packs without used blobs are removed.
    Unlimited,
}

impl MaxUnused {
    /// Parses `5%`, `200M`, `1G`, `4096` or `unlimited`.
    pub fn parse(text: &str) -> Result<MaxUnused, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("unlimited") {
            return Ok(MaxUnused::Unlimited);
        }
        if let Some(p) = t.strip_suffix('%') {
            let p: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("{text}: expected a percentage such as 5%"))?;
            if !(0.0..100.0).contains(&p) {
                return Err(format!(
                    "{text}: the percentage must be at least 0 and below 100"
                ));
            }
            return Ok(MaxUnused::Percent(p));
        }
        let (number, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
        let shift = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kib" => 10,
            "m" | "mib" => 20,
            "g" | "gib" => 30,
            "t" | "tib" => 40,
            _ => {
                return Err(format!(
                    "{text}: expected 5%, a size such as 200M or 1G, or unlimited"
                ))
            }
        };
        let n: u64 = number
            .parse()
            .map_err(|_| format!("{text}: expected 5%, a size such as 200M or 1G, or unlimited"))?;
        n.checked_mul(1 << shift)
            .map(MaxUnused::Bytes)
            .ok_or_else(|| format!("{text}: too large"))
    }

    /// The unused bytes allowed beside `used` bytes of used blobs.
    fn limit(&self, used: u64) -> u64 {
        match *self {
            // unused / (used + unused) <= p
            MaxUnused::Percent(p) => (p * used as f64 / (100.0 - p)) as u64,
            MaxUnused::Bytes(b) => b,
            MaxUnused::Unlimited => u64::MAX,
        }
    }
}

/// What the plan needs to know.
pub struct PlanInput<'a> {
    /// Live packs and their blobs, each pack once.
    pub live: &'a [(PackId, Vec<PackEntry>)],
    /// Marked packs that are not also live, each once.
    pub marked: &'a [MarkedPack],
    /// Every pack the backend lists, with its size.
    pub listed: &'a HashMap<PackId, u64>,
    /// The index over `live` and `marked`.
    pub index: &'a Index,
    /// Blobs reachable from some snapshot.
    pub used: &'a BlobBits,
    /// Now, in seconds since the epoch.
    pub now: i64,
    /// The grace period in seconds; 0 deletes at once.
    pub grace: i64,
    /// The unused space to tolerate in kept packs.
    pub max_unused: MaxUnused,
}

/// What happens to every pack. Packs are named by their position in
/// [`PlanInput::live`] or [`PlanInput::marked`], so the plan copies no
/// index entries but the ones that move.
#[derive(Debug, Default)]
pub struct Plan {
    /// Live packs that stay live as they are.
    pub keep: Vec<usize>,
    /// Marked packs that a snapshot needs again: live again, unchanged.
    pub unmark: Vec<usize>,
    /// Live packs whose used blobs move to new packs (the blobs to move);
    /// afterwards the old pack is marked, or deleted when there is no grace.
    pub repack: Vec<(usize, Vec<PackEntry>)>,
    /// Live packs without a used blob: marked now (deleted at once without grace).
    pub mark: Vec<usize>,
    /// Listed packs in no index: marked now with no blobs (deleted at once without grace).
    pub unindexed: Vec<PackId>,
    /// Marked packs still in their grace period.
    pub waiting: Vec<usize>,
    /// Marked packs past their grace period that no snapshot needs.
    pub expired: Vec<PackId>,
    /// Indexed packs the backend does not list (their entries are dropped).
    pub missing: Vec<PackId>,
    /// Used blobs whose only copies are in missing packs.
    pub lost_blobs: Vec<BlobId>,
    /// Bytes of used blobs in packs that stay.
    pub used_bytes: u64,
    /// Bytes of unused blobs in packs that stay, before repacking.
    pub unused_bytes_before_repack: u64,
    /// Bytes of unused blobs in packs that stay, after repacking.
    pub unused_bytes: u64,
}

struct LivePack<'a> {
    at: usize,
    id: PackId,
    entries: &'a [PackEntry],
    used_count: usize,
}

/// Decides every pack's fate; see [`Plan`].
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let mut plan = Plan::default();
    let position = |id: &BlobId| input.index.position(id);
    let is_used = |id: &BlobId| position(id).is_some_and(|p| input.used.contains(p));

    // Packs that hold the most used blobs claim them first, so a duplicate
    // copy in an emptier pack is the one counted unused.
    let mut live: Vec<LivePack> = Vec::new();
    for (at, (id, entries)) in input.live.iter().enumerate() {
        if !input.listed.contains_key(id) {
            plan.missing.push(*id);
            continue;
        }
        let used_count = entries.iter().filter(|e| is_used(&e.id)).count();
        live.push(LivePack {
            at,
            id: *id,
            entries,
            used_count,
        });
    }
    live.sort_by(|a, b| {
        let ratio = |p: &LivePack| p.used_count as f64 / p.entries.len().max(1) as f64;
        ratio(b).total_cmp(&ratio(a)).then(a.id.cmp(&b.id))
    });
    let mut claimed = BlobBits::new(input.index.len());
    let mut claim = |e: &PackEntry| -> bool {
        match position(&e.id) {
            Some(p) if input.used.contains(p) => claimed.insert(p),
            _ => false,
        }
    };

    // (pack, claimed blobs, used bytes, unused bytes) of partly used packs.
    let mut partial = Vec::new();
    for pack in &live {
        let mine: Vec<PackEntry> = pack.entries.iter().filter(|e| claim(e)).copied().collect();
        let used: u64 = mine.iter().map(|e| e.stored_len as u64).sum();
        let total: u64 = pack.entries.iter().map(|e| e.stored_len as u64).sum();
        if mine.is_empty() {
            plan.mark.push(pack.at);
        } else if mine.len() == pack.entries.len() {
            plan.used_bytes += used;
            plan.keep.push(pack.at);
        } else {
            plan.used_bytes += used;
            plan.unused_bytes += total - used;
            partial.push((pack, mine, total - used));
        }
    }

    let mut marked: Vec<(usize, &MarkedPack)> = input.marked.iter().enumerate().collect();
    marked.sort_by_key(|(_, m)| m.id);
    for (at, m) in marked {
        if !input.listed.contains_key(&m.id) {
            plan.missing.push(m.id);
            continue;
        }
        let needed = m.blobs.iter().filter(|e| claim(e)).count();
        if needed > 0 {
            let used: u64 = m
                .blobs
                .iter()
                .filter(|e| is_used(&e.id))
                .map(|e| e.stored_len as u64)
                .sum();
            let total: u64 = m.blobs.iter().map(|e| e.stored_len as u64).sum();
            plan.used_bytes += used;
            plan.unused_bytes += total.saturating_sub(used);
            plan.unmark.push(at);
        } else if input.grace == 0 || input.now.saturating_sub(m.marked_at) >= input.grace {
            plan.expired.push(m.id);
        } else {
            plan.waiting.push(at);
        }
    }

    // Used blobs that no listed pack holds (only missing ones did).
    let missing: std::collections::HashSet<PackId> = plan.missing.iter().copied().collect();
    for (id, entries) in input.live {
        if missing.contains(id) {
            for e in entries {
                if claim(e) {
                    plan.lost_blobs.push(e.id);
                }
            }
        }
    }
    for m in input.marked.iter().filter(|m| missing.contains(&m.id)) {
        for e in &m.blobs {
            if claim(e) {
                plan.lost_blobs.push(e.id);
            }
        }
    }

    // Repack the emptiest packs until the unused space is within bounds.
    plan.unused_bytes_before_repack = plan.unused_bytes;
    let limit = input.max_unused.limit(plan.used_bytes);
    partial.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.id.cmp(&b.0.id)));
    for (pack, mine, unused) in partial {
        if plan.unused_bytes > limit {
            plan.unused_bytes -= unused;
            plan.repack.push((pack.at, mine));
        } else {
            plan.keep.push(pack.at);
        }
    }

    let indexed: std::collections::HashSet<PackId> = input
        .live
        .iter()
        .map(|(id, _)| *id)
        .chain(input.marked.iter().map(|m| m.id))
        .collect();
    let mut unindexed: Vec<PackId> = input
        .listed
        .keys()
        .filter(|p| !indexed.contains(p))
        .copied()
        .collect();
    unindexed.sort();
    plan.unindexed = unindexed;
    plan.missing.sort();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Id;
    use crate::pack::{BlobKind, Compression};

    fn blob(n: u8) -> BlobId {
        BlobId(Id([n; 32]))
    }

    fn pack(n: u8) -> PackId {
        PackId(Id([200 + n; 32]))
    }

    fn entries(blobs: &[u8]) -> Vec<PackEntry> {
        blobs
            .iter()
            .enumerate()
            .map(|(i, &b)| PackEntry {
                kind: BlobKind::Data,
                compression: Compression::None,
                id: blob(b),
                offset: i as u32 * 100,
                stored_len: 100,
                raw_len: 68,
            })
            .collect()
    }

    struct World {
        live: Vec<(PackId, Vec<PackEntry>)>,
        marked: Vec<MarkedPack>,
        listed: HashMap<PackId, u64>,
    }

    impl World {
        fn plan(&self, used: &[u8], grace: i64, max_unused: MaxUnused) -> Plan {
            let mut index = Index::new();
            for (id, e) in &self.live {
                index.add_pack(*id, e);
            }
            for m in &self.marked {
                index.add_marked_pack(m.id, &m.blobs);
            }
            index.sort();
            let mut bits = BlobBits::new(index.len());
            for b in used {
                bits.insert(index.position(&blob(*b)).unwrap());
            }
            plan(&PlanInput {
                live: &self.live,
                marked: &self.marked,
                listed: &self.listed,
                index: &index,
                used: &bits,
                now: 10_000,
                grace,
                max_unused,
            })
        }
    }

    fn world() -> World {
        let live = vec![
            (pack(1), entries(&[1, 2, 3, 4])),    // fully used
            (pack(2), entries(&[5, 6, 7, 8])),    // unused
            (pack(3), entries(&[9, 10, 11, 12])), // one used blob
            (pack(4), entries(&[13, 14, 1])),     // duplicate of 1, and 13 used
        ];
        let marked = vec![
            MarkedPack {
                id: pack(5),
                marked_at: 9_000,
                blobs: entries(&[20, 21]),
            },
            MarkedPack {
                id: pack(6),
                marked_at: 1_000,
                blobs: entries(&[22]),
            },
            MarkedPack {
                id: pack(7),
                marked_at: 1_000,
                blobs: entries(&[23]),
            },
        ];
        let mut listed: HashMap<PackId, u64> = (1..=7).map(|n| (pack(n), 500)).collect();
        listed.insert(pack(9), 77);
        World {
            live,
            marked,
            listed,
        }
    }

    const USED: &[u8] = &[1, 2, 3, 4, 9, 13, 23];

    #[test]
    fn every_pack_gets_its_fate() {
        let w = world();
        let p = w.plan(USED, 3_600, MaxUnused::Unlimited);
        let live = |v: &[usize]| v.iter().map(|&i| w.live[i].0).collect::<Vec<_>>();
        let marked = |v: &[usize]| v.iter().map(|&i| w.marked[i].id).collect::<Vec<_>>();
        assert_eq!(live(&p.keep).len(), 3);
        assert!(live(&p.keep).contains(&pack(1)));
        assert_eq!(live(&p.mark), vec![pack(2)]);
        assert_eq!(
            marked(&p.unmark),
            vec![pack(7)],
            "a snapshot needs blob 23 again"
        );
        // Pack 5 was marked 1000 s ago, grace 3600.
        assert_eq!(marked(&p.waiting), vec![pack(5)]);
        assert_eq!(p.expired, vec![pack(6)]);
        assert_eq!(p.unindexed, vec![pack(9)]);
        assert!(p.repack.is_empty() && p.missing.is_empty() && p.lost_blobs.is_empty());
        // Blob 1 is claimed by full pack 1; pack 4's copy is unused.
        assert_eq!(p.unused_bytes, 300 + 200);
    }

    #[test]
    fn repacks_the_emptiest_until_within_bounds() {
        let w = world();
        let p = w.plan(USED, 3_600, MaxUnused::Bytes(250));
        assert_eq!(p.repack.len(), 1);
        assert_eq!(w.live[p.repack[0].0].0, pack(3));
        assert_eq!(p.repack[0].1.len(), 1, "only the used blob moves");
        assert_eq!(p.unused_bytes, 200);
        let none = w.plan(USED, 3_600, MaxUnused::Percent(0.0));
        assert_eq!(none.repack.len(), 2);
        assert_eq!(none.unused_bytes, 0);
        let lots = w.plan(USED, 3_600, MaxUnused::Percent(50.0));
        assert!(lots.repack.is_empty());
    }

    #[test]
    fn without_grace_every_unneeded_marked_pack_expires() {
        let p = world().plan(USED, 0, MaxUnused::Unlimited);
        assert!(p.waiting.is_empty());
        assert_eq!(p.expired, vec![pack(5), pack(6)]);
    }

    #[test]
    fn missing_packs_are_found_with_their_lost_blobs() {
        let mut w = world();
        w.listed.remove(&pack(1));
        let p = w.plan(USED, 3_600, MaxUnused::Unlimited);
        assert_eq!(p.missing, vec![pack(1)]);
        // Blob 1 survives in pack 4; 2, 3 and 4 are lost.
        let mut lost = p.lost_blobs.clone();
        lost.sort();
        assert_eq!(lost, vec![blob(2), blob(3), blob(4)]);
    }

    #[test]
    fn max_unused_parses() {
        assert_eq!(MaxUnused::parse("5%"), Ok(MaxUnused::Percent(5.0)));
        assert_eq!(MaxUnused::parse("200M"), Ok(MaxUnused::Bytes(200 << 20)));
        assert_eq!(MaxUnused::parse("1g"), Ok(MaxUnused::Bytes(1 << 30)));
        assert_eq!(MaxUnused::parse("4096"), Ok(MaxUnused::Bytes(4096)));
        assert_eq!(MaxUnused::parse("unlimited"), Ok(MaxUnused::Unlimited));
        for bad in ["100%", "-1%", "5x", "", "M"] {
            assert!(MaxUnused::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(MaxUnused::Percent(5.0).limit(95), 5);
    }
}
