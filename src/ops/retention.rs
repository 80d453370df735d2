//! Retention policies for `snap forget`, as restic defines them: within a
//! group, snapshots are taken newest first; `last N` keeps the N newest, and
//! each of `hourly`, `daily`, `weekly`, `monthly` and `yearly N` keeps the
//! newest snapshot of each of the N most recent hours, days, ISO weeks,
//! months or years that have one. `within D` keeps everything taken within D
//! before the group's newest snapshot, and `tags` keeps every snapshot with
//! one of the tags. A snapshot is kept if any rule keeps it; every rule that
//! does is given as a reason. Periods are in UTC, so a policy gives the same
//! answer on every host.

use chrono::{DateTime, Datelike, Months, Timelike, Utc};

/// What to keep; all zero/empty keeps nothing (callers refuse that).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// The N newest.
    pub last: u32,
    /// The newest of each of the N most recent hours.
    pub hourly: u32,
    /// ... days.
    pub daily: u32,
    /// ... ISO weeks.
    pub weekly: u32,
    /// ... months.
    pub monthly: u32,
    /// ... years.
    pub yearly: u32,
    /// Everything within this span before the newest snapshot.
    pub within: Option<Span>,
    /// Everything carrying one of these tags.
    pub tags: Vec<String>,
}

impl RetentionPolicy {
    /// True when no rule is set.
    pub fn is_empty(&self) -> bool {
        *self == RetentionPolicy::default()
    }
}

/// A calendar span such as `1y6m`, `14d` or `36h`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// Years.
    pub years: u32,
    /// Months.
    pub months: u32,
    /// Days.
    pub days: u32,
    /// Hours.
    pub hours: u32,
}

impl Span {
    /// Parses numbers each followed by `y`, `m`, `d` or `h`, e.g. `1y2m3d4h`.
    pub fn parse(text: &str) -> Result<Span, String> {
        let mut span = Span::default();
        let mut number = String::new();
        let mut any = false;
        for c in text.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let n: u32 = number.parse().map_err(|_| {
                format!("{text}: expected numbers followed by y, m, d or h, such as 1y6m or 14d")
            })?;
            number.clear();
            match c {
                'y' => span.years += n,
                'm' => span.months += n,
                'd' => span.days += n,
                'h' => span.hours += n,
                _ => return Err(format!("{text}: {c} is not a unit; use y, m, d or h")),
            }
            any = true;
        }
        if !number.is_empty() || !any {
            return Err(format!(
                "{text}: expected numbers followed by y, m, d or h, such as 1y6m or 14d"
            ));
        }
        Ok(span)
    }

    /// `time` minus the span (calendar months and years).
    fn before(&self, time: DateTime<Utc>) -> DateTime<Utc> {
        let months = self.years.saturating_mul(12).saturating_add(self.months);
        let t = time
            .checked_sub_months(Months::new(months))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        t - chrono::Duration::days(self.days as i64) - chrono::Duration::hours(self.hours as i64)
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, unit) in [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ] {
            if n > 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

/// One snapshot as the policy sees it.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// When it was taken.
    pub time: DateTime<Utc>,
    /// Its tags.
    pub tags: Vec<String>,
}

/// For each candidate (in the order given), the reasons to keep it; empty
/// means it is forgotten.
pub fn decide(policy: &RetentionPolicy, snapshots: &[Candidate]) -> Vec<Vec<String>> {
    let mut order: Vec<usize> = (0..snapshots.len()).collect();
    // Newest first; ties by position, for a stable answer.
    order.sort_by(|&a, &b| snapshots[b].time.cmp(&snapshots[a].time).then(a.cmp(&b)));
    let mut reasons = vec![Vec::new(); snapshots.len()];
    let newest = order.first().map(|&i| snapshots[i].time);

    type Bucket = fn(&DateTime<Utc>) -> (i32, u32);
    let rules: [(u32, &str, Bucket); 6] = [
        (policy.last, "last", |_| (0, 0)),
        (policy.hourly, "hourly", |t| {
            (t.year(), t.ordinal() * 24 + t.hour())
        }),
        (policy.daily, "daily", |t| (t.year(), t.ordinal())),
        (policy.weekly, "weekly", |t| {
            let w = t.iso_week();
            (w.year(), w.week())
        }),
        (policy.monthly, "monthly", |t| (t.year(), t.month())),
        (policy.yearly, "yearly", |t| (t.year(), 0)),
    ];
    for (count, name, bucket) in rules {
        if count == 0 {
            continue;
        }
        let mut kept = 0;
        let mut last_bucket = None;
        for &i in &order {
            if kept >= count {
                break;
            }
            // `last` gives every snapshot its own bucket.
            let b = if name == "last" {
                None
            } else {
                Some(bucket(&snapshots[i].time))
            };
            if name == "last" || b != last_bucket {
                reasons[i].push(format!("{name} snapshot"));
                kept += 1;
                last_bucket = b;
            }
        }
    }
    if let (Some(span), Some(newest)) = (policy.within, newest) {
        let since = span.before(newest);
        for &i in &order {
            if snapshots[i].time >= since {
                reasons[i].push(format!("within {span}"));
            }
        }
    }
    for (i, s) in snapshots.iter().enumerate() {
        for tag in &policy.tags {
            if s.tags.contains(tag) {
                reasons[i].push(format!("tag {tag}"));
            }
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Candidate {
        Candidate {
            time: DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc),
            tags: Vec::new(),
        }
    }

    /// Snapshots every 6 hours from 2026-01-01 00:00 for 100 days (400).
    fn history() -> Vec<Candidate> {
        let start = at("2026-01-01T00:00:00Z").time;
        (0..400)
            .map(|i| Candidate {
                time: start + chrono::Duration::hours(6 * i),
                tags: if i % 50 == 0 {
                    vec!["golden".into()]
                } else {
                    Vec::new()
                },
            })
            .collect()
    }

    fn kept_times(policy: &RetentionPolicy, snaps: &[Candidate]) -> Vec<String> {
        let reasons = decide(policy, snaps);
        let mut out: Vec<String> = snaps
            .iter()
            .zip(&reasons)
            .filter(|(_, r)| !r.is_empty())
            .map(|(s, _)| s.time.format("%Y-%m-%dT%H").to_string())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn each_rule_alone_and_together() {
        let snaps = history();
        // The newest is 2026-04-10T18 (399 * 6 h after the start).
        let cases: Vec<(RetentionPolicy, Vec<&str>)> = vec![
            (
                RetentionPolicy {
                    last: 3,
                    ..Default::default()
                },
                vec!["2026-04-10T06", "2026-04-10T12", "2026-04-10T18"],
            ),
            (
                RetentionPolicy {
                    hourly: 2,
                    ..Default::default()
                },
                vec!["2026-04-10T12", "2026-04-10T18"],
            ),
            (
                RetentionPolicy {
                    daily: 3,
                    ..Default::default()
                },
                vec!["2026-04-08T18", "2026-04-09T18", "2026-04-10T18"],
            ),
            (
                // ISO weeks: 2026-04-06 is a Monday.
                RetentionPolicy {
                    weekly: 2,
                    ..Default::default()
                },
                vec!["2026-04-05T18", "2026-04-10T18"],
            ),
            (
                RetentionPolicy {
                    monthly: 3,
                    ..Default::default()
                },
                vec!["2026-02-28T18", "2026-03-31T18", "2026-04-10T18"],
            ),
            (
                RetentionPolicy {
                    yearly: 5,
                    ..Default::default()
                },
                vec!["2026-04-10T18"],
            ),
            (
                RetentionPolicy {
                    within: Some(Span::parse("1d").unwrap()),
                    ..Default::default()
                },
                vec![
                    "2026-04-09T18",
                    "2026-04-10T00",
                    "2026-04-10T06",
                    "2026-04-10T12",
                    "2026-04-10T18",
                ],
            ),
            (
                RetentionPolicy {
                    tags: vec!["golden".into()],
                    ..Default::default()
                },
                vec![
                    "2026-01-01T00",
                    "2026-01-13T12",
                    "2026-01-26T00",
                    "2026-02-07T12",
                    "2026-02-20T00",
                    "2026-03-04T12",
                    "2026-03-17T00",
                    "2026-03-29T12",
                ],
            ),
            (
                RetentionPolicy {
                    last: 1,
                    daily: 2,
                    monthly: 2,
                    ..Default::default()
                },
                vec!["2026-03-31T18", "2026-04-09T18", "2026-04-10T18"],
            ),
        ];
        for (policy, want) in cases {
            assert_eq!(kept_times(&policy, &snaps), want, "{policy:?}");
        }
    }

    #[test]
    fn reasons_name_every_rule_that_keeps() {
        let snaps = history();
        let policy = RetentionPolicy {
            last: 1,
            daily: 1,
            within: Some(Span {
                hours: 1,
                ..Default::default()
            }),
            ..Default::default()
        };
        let reasons = decide(&policy, &snaps);
        assert_eq!(
            reasons[399],
            vec!["last snapshot", "daily snapshot", "within 1h"]
        );
        assert!(reasons[398].is_empty());
        // Counts larger than the history keep what there is.
        let all = decide(
            &RetentionPolicy {
                last: 10_000,
                ..Default::default()
            },
            &snaps,
        );
        assert!(all.iter().all(|r| !r.is_empty()));
        assert!(decide(&policy, &[]).is_empty());
    }

    #[test]
    fn spans_parse_and_subtract_calendar_units() {
        let s = Span::parse("1y2m3d4h").unwrap();
        assert_eq!((s.years, s.months, s.days, s.hours), (1, 2, 3, 4));
        assert_eq!(s.to_string(), "1y2m3d4h");
        for bad in ["", "3", "2w", "d", "1.5d"] {
            assert!(Span::parse(bad).is_err(), "{bad}");
        }
        let t = at("2026-03-31T12:00:00Z").time;
        assert_eq!(
            Span::parse("1m").unwrap().before(t),
            at("2026-02-28T12:00:00Z").time
        );
    }
}
