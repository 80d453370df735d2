//! Content-defined chunking: FastCDC (2020) with a per-repository secret gear seed.
//!
//! Owns only where content is cut (spec §5). Parameters come from the repository
//! config, which may be hostile, so they are validated here and never panic.

use std::io::Read;

use fastcdc::v2020::{FastCDC, Normalization};
use serde::{Deserialize, Serialize};

/// Minimum, average and maximum chunk sizes in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    /// No cut before this many bytes (except at the end of content).
    pub min_size: u32,
    /// The target average.
    pub avg_size: u32,
    /// A cut is forced at this many bytes.
    pub max_size: u32,
}

impl Default for ChunkerParams {
    /// 512 KiB / 1 MiB / 8 MiB: the sizes restic uses, a good balance of dedup
    /// granularity against per-blob overhead for platform data.
    fn default() -> Self {
        ChunkerParams {
            min_size: 512 * 1024,
            avg_size: 1024 * 1024,
            max_size: 8 * 1024 * 1024,
        }
    }
}

/// Chunker parameters outside what FastCDC supports.
#[derive(Debug, thiserror::Error)]
#[error("chunker parameters min={min} avg={avg} max={max} are invalid: {reason}")]
pub struct ChunkerParamsError {
    min: u32,
    avg: u32,
    max: u32,
    reason: &'static str,
}

impl ChunkerParams {
    /// Checks the sizes against FastCDC's limits and their order.
    pub fn validate(&self) -> Result<(), ChunkerParamsError> {
        use fastcdc::v2020::*;
        let (min, avg, max) = (
            self.min_size as usize,
            self.avg_size as usize,
            self.max_size as usize,
        );
        let reason = if !(MINIMUM_MIN..=MINIMUM_MAX).contains(&min) {
            Some("min must be within 64 B..=1 MiB")
        } else if !(AVERAGE_MIN..=AVERAGE_MAX).contains(&avg) {
            Some("avg must be within 256 B..=4 MiB")
        } else if !(MAXIMUM_MIN..=MAXIMUM_MAX).contains(&max) {
            Some("max must be within 1 KiB..=16 MiB")
        } else if min % 2 != 0 || avg % 2 != 0 || max % 2 != 0 {
            Some("sizes must be even")
        } else if !(min <= avg && avg <= max) {
            Some("sizes must satisfy min <= avg <= max")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(ChunkerParamsError {
                min: self.min_size,
                avg: self.avg_size,
                max: self.max_size,
                reason,
            }),
            None => Ok(()),
        }
    }
}

/// A configured chunker. Cheap to clone; stateless between calls.
#[derive(Clone, Debug)]
pub struct Chunker {
    params: ChunkerParams,
    seed: u64,
}

impl Chunker {
    /// A chunker with validated parameters and the repository's secret seed.
    pub fn new(params: ChunkerParams, seed: u64) -> Result<Chunker, ChunkerParamsError> {
        params.validate()?;
        Ok(Chunker { params, seed })
    }

    /// The parameters.
    pub fn params(&self) -> ChunkerParams {
        self.params
    }

    /// The cut points of an in-memory buffer, as `(offset, length)` pairs that
    /// cover it exactly. Empty input yields no chunks.
    pub fn cut(&self, data: &[u8]) -> Vec<(usize, usize)> {
        let p = self.params;
        FastCDC::with_level_and_seed(
            data,
            p.min_size as usize,
            p.avg_size as usize,
            p.max_size as usize,
            Normalization::Level1,
            self.seed,
        )
        .map(|c| (c.offset, c.length))
        .collect()
    }

    /// Reads `reader` to its end and calls `emit` with each chunk in order.
    ///
    /// Works over one buffer of `max_size` bytes, refilled as chunks are taken,
    /// because cutting an in-memory buffer is much faster than FastCDC's stream
    /// reader. Returns the number of bytes read.
    pub fn for_each_chunk<R: Read, E: From<std::io::Error>>(
        &self,
        reader: R,
        emit: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<u64, E> {
        self.for_each_chunk_in(reader, &mut Vec::new(), emit)
    }

    /// As [`Chunker::for_each_chunk`], working in `buf` (grown to `max_size`
    /// if smaller), so callers can reuse one buffer across files.
    pub fn for_each_chunk_in<R: Read, E: From<std::io::Error>>(
        &self,
        mut reader: R,
        buf: &mut Vec<u8>,
        mut emit: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<u64, E> {
        let max = self.params.max_size as usize;
        if buf.len() < max {
            buf.resize(max, 0);
        }
        let mut filled = 0usize;
        let mut total = 0u64;
        let mut eof = false;
        loop {
            while !eof && filled < max {
                match reader.read(&mut buf[filled..]) {
                    Ok(0) => eof = true,
                    Ok(n) => {
                        filled += n;
                        total += n as u64;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if filled == 0 {
                return Ok(total);
            }
            let cuts = self.cut(&buf[..filled]);
            let mut consumed = 0;
            for (i, &(offset, len)) in cuts.iter().enumerate() {
                let last = i + 1 == cuts.len();
                // The final cut of a non-final buffer may only be where the data
                // ran out, not a real boundary: keep it for the next round unless
                // it is a forced cut at max size.
                if last && !eof && len < max {
                    break;
                }
                emit(&buf[offset..offset + len])?;
                consumed = offset + len;
            }
            buf.copy_within(consumed..filled, 0);
            filled -= consumed;
            if eof && filled == 0 {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> ChunkerParams {
        ChunkerParams {
            min_size: 1024,
            avg_size: 4096,
            max_size: 16384,
        }
    }

    #[test]
    fn stream_matches_buffer() {
        let mut rng = 12345u64;
        let data: Vec<u8> = (0..200_000)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng as u8
            })
            .collect();
        let c = Chunker::new(small(), 99).unwrap();
        let whole = c.cut(&data);
        let mut streamed = Vec::new();
        let mut pos = 0;
        c.for_each_chunk::<_, std::io::Error>(&data[..], |chunk| {
            streamed.push((pos, chunk.len()));
            pos += chunk.len();
            Ok(())
        })
        .unwrap();
        assert_eq!(whole, streamed);
        assert_eq!(pos, data.len());
        let other = Chunker::new(small(), 100).unwrap().cut(&data);
        assert_ne!(whole, other, "the seed must change boundaries");
    }

    #[test]
    fn invalid_params_refused() {
        for p in [
            ChunkerParams {
                min_size: 0,
                avg_size: 4096,
                max_size: 16384,
            },
            ChunkerParams {
                min_size: 8192,
                avg_size: 4096,
                max_size: 16384,
            },
            ChunkerParams {
                min_size: 1025,
                avg_size: 4096,
                max_size: 16384,
            },
            ChunkerParams {
                min_size: 1024,
                avg_size: 4096,
                max_size: u32::MAX,
            },
        ] {
            assert!(Chunker::new(p, 0).is_err(), "{p:?}");
        }
        assert!(Chunker::new(ChunkerParams::default(), 0).is_ok());
    }

    #[test]
    fn empty_and_tiny() {
        let c = Chunker::new(small(), 1).unwrap();
        assert!(c.cut(&[]).is_empty());
        assert_eq!(c.cut(&[1, 2, 3]), vec![(0, 3)]);
    }
}
