//! The `Range` request header, as RFC 9110 §14 defines it for the one form
//! this server serves: a single byte range (`FIRST-LAST`, `FIRST-`, or the
//! suffix `-N`). Pure: a header value and a length in, an answer out.
//!
//! Multiple ranges are not served (no multipart answers): §14.2 lets a
//! server ignore a Range header, which then gets the whole file (200).

/// What to send for a `Range` header against a file of some length.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeAnswer {
    /// The whole file (200): no header, or one the server ignores (another
    /// unit, several ranges, a malformed or invalid specifier).
    Full,
    /// Part of the file (206): `len` bytes from `offset`, `len >= 1`.
    Partial {
        /// First byte sent.
        offset: u64,
        /// How many bytes are sent.
        len: u64,
    },
    /// No byte of the file is in the range (416, `Content-Range: bytes */LEN`).
    Unsatisfiable,
}

/// Decides the answer for the `Range` header `value` against `size` bytes.
pub fn parse(value: &str, size: u64) -> RangeAnswer {
    let Some(spec) = strip_unit(value) else {
        // §14.2: a unit the server does not know is ignored.
        return RangeAnswer::Full;
    };
    if spec.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeAnswer::Full;
    };
    if first.is_empty() {
        // suffix-range = "-" suffix-length
        let Some(n) = digits(last) else {
            return RangeAnswer::Full;
        };
        if n == 0 {
            // §14.1.2: satisfiable only with a non-zero suffix-length.
            return RangeAnswer::Unsatisfiable;
        }
        if size == 0 {
            // Nothing to send, and a 206 must name a first and last byte:
            // the whole (empty) file is the valid answer (§14.2 allows it).
            return RangeAnswer::Full;
        }
        let len = n.min(size);
        return RangeAnswer::Partial {
            offset: size - len,
            len,
        };
    }
    let Some(first) = digits(first) else {
        return RangeAnswer::Full;
    };
    let last = if last.is_empty() {
        None
    } else {
        match digits(last) {
            Some(l) => Some(l),
            None => return RangeAnswer::Full,
        }
    };
    if last.is_some_and(|l| l < first) {
        // §14.1.1: an invalid range-spec; the header may be ignored.
        return RangeAnswer::Full;
    }
    if first >= size {
        return RangeAnswer::Unsatisfiable;
    }
    // A last position past the end is clamped to the end (§14.1.2).
    let last = last.map_or(size - 1, |l| l.min(size - 1));
    RangeAnswer::Partial {
        offset: first,
        len: last - first + 1,
    }
}

/// The specifier after `bytes=` (the unit is case-insensitive, §14.1).
fn strip_unit(value: &str) -> Option<&str> {
    let (unit, spec) = value.trim().split_once('=')?;
    unit.eq_ignore_ascii_case("bytes").then_some(spec)
}

/// `1*DIGIT` (no sign, no spaces); values too large for a u64 saturate,
/// which keeps their meaning (past any file's end).
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

#[cfg(test)]
mod tests {
    use super::RangeAnswer::{Full, Partial, Unsatisfiable};
    use super::*;

    fn part(offset: u64, len: u64) -> RangeAnswer {
        Partial { offset, len }
    }

    #[test]
    fn single_ranges() {
        assert_eq!(parse("bytes=0-9", 100), part(0, 10));
        assert_eq!(parse("bytes=0-0", 100), part(0, 1));
        assert_eq!(parse("bytes=90-", 100), part(90, 10));
        assert_eq!(parse("bytes=99-99", 100), part(99, 1));
        assert_eq!(parse("BYTES=10-19", 100), part(10, 10));
        assert_eq!(parse(" bytes=10-19 ", 100), part(10, 10));
    }

    #[test]
    fn past_the_end_is_clamped() {
        assert_eq!(parse("bytes=90-200", 100), part(90, 10));
        assert_eq!(parse("bytes=0-99999999999999999999999", 100), part(0, 100));
    }

    #[test]
    fn suffixes() {
        assert_eq!(parse("bytes=-5", 100), part(95, 5));
        assert_eq!(parse("bytes=-100", 100), part(0, 100));
        assert_eq!(parse("bytes=-500", 100), part(0, 100));
        assert_eq!(parse("bytes=-99999999999999999999999", 100), part(0, 100));
        assert_eq!(parse("bytes=-5", 0), Full);
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(parse("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse("bytes=-0", 0), Unsatisfiable);
        assert_eq!(parse("bytes=-000", 100), Unsatisfiable);
        assert_eq!(parse("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse("bytes=100-150", 100), Unsatisfiable);
        assert_eq!(parse("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse("bytes=99999999999999999999999-", 100), Unsatisfiable);
    }

    #[test]
    fn ignored_headers_get_the_whole_file() {
        for v in [
            "bytes=5-2",
            "bytes=0-1,4-5",
            "bytes=-1,-2",
            "items=0-1",
            "bytes 0-1",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes=+5-",
            "bytes=5-+9",
            "bytes=-+5",
            "bytes= 1-2",
            "bytes=1 -2",
            "bytes=1-2-3",
            "bytes=٣-",
            "",
        ] {
            assert_eq!(parse(v, 100), Full, "{v:?}");
        }
    }
}
