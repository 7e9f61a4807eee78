//! Small helpers of the tool: sizes with suffixes, UTC times, human numbers, a latency
//! histogram, and the tool's only ways to stdout and stderr (`outln!`, `errln!`,
//! [`with_stdout`]): they never panic, a closed pipe ends the output quietly, and a failed
//! stdout is one error line (exit 1).

use std::io::{self, Write};

/// Parses `64K`, `10M`, `1G`, `4096` (binary multiples; `KiB`/`KB`/`k` spellings accepted).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let bad = || format!("invalid size {s:?}: use a number with an optional K, M or G suffix");
    let n: u64 = num.parse().map_err(|_| bad())?;
    let shift = match suffix.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(bad()),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Parses seconds (fractions allowed).
pub fn parse_secs(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..1e9).contains(&v) => Ok(v),
        _ => Err(format!("invalid number of seconds {s:?}")),
    }
}

/// `1536` → `1.5K`, binary multiples.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", UNITS[u])
    }
}

/// `4270000.0` → `4.27M`.
pub fn human_count(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}K", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Nanoseconds as `850 ns`, `12.3 us`, `4.5 ms`, `1.20 s`.
pub fn human_ns(ns: u64) -> String {
    let v = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} us", v / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.1} ms", v / 1e6)
    } else {
        format!("{:.2} s", v / 1e9)
    }
}

/// ns since the Unix epoch as `2026-11-21T10:00:01.123456789Z` (UTC).
pub fn utc(ns: i64) -> String {
    let frac = ns.rem_euclid(1_000_000_000);
    let (y, m, d, h, mi, s) = fmq_ldata::civil(ns.div_euclid(1_000_000_000));
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:09}Z")
}

/// A log-linear histogram of nanosecond values: 32 sub-buckets per power of two (about 3 %
/// resolution), values up to 2^40 ns.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    max: u64,
}

const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; (41 * SUB) as usize],
            max: 0,
        }
    }
}

impl Histogram {
    fn index(v: u64) -> usize {
        let v = v.min((1 << 40) - 1);
        if v < SUB {
            return v as usize;
        }
        let msb = 63 - v.leading_zeros();
        let shift = msb - SUB_BITS;
        (((shift + 1) as u64) * SUB + ((v >> shift) & (SUB - 1))) as usize
    }

    fn lower_bound(i: usize) -> u64 {
        let i = i as u64;
        if i < SUB {
            return i;
        }
        let shift = i / SUB - 1;
        (SUB + i % SUB) << shift
    }

    /// Adds one value.
    pub fn record(&mut self, v: u64) {
        self.counts[Self::index(v)] += 1;
        self.max = self.max.max(v);
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The value at quantile `q` (0..=1), as the lower bound of its bucket.
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::lower_bound(i).min(self.max);
            }
        }
        self.max
    }

    /// The largest value.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The non-empty buckets and the max, for sending between processes.
    pub fn to_sparse(&self) -> SparseHistogram {
        SparseHistogram {
            buckets: self
                .counts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(i, c)| (i as u64, *c))
                .collect(),
            max: self.max,
        }
    }

    /// Adds a histogram sent as [`Histogram::to_sparse`] (buckets out of range are ignored:
    /// it came from another process).
    pub fn merge(&mut self, other: &SparseHistogram) {
        for &(i, c) in &other.buckets {
            if let Some(slot) = usize::try_from(i).ok().and_then(|i| self.counts.get_mut(i)) {
                *slot += c;
            }
        }
        self.max = self.max.max(other.max);
    }
}

/// A [`Histogram`]'s non-empty buckets as `(index, count)` pairs, and its max.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SparseHistogram {
    pub buckets: Vec<(u64, u64)>,
    pub max: u64,
}

/// Writing to stdout failed (ENOSPC on `> /dev/full`, EIO, ...): the command fails with
/// exit 1 and this one line. A closed pipe is not a failure (see [`with_stdout`]).
#[derive(Debug)]
pub struct StdoutFailed(pub io::Error);

impl std::fmt::Display for StdoutFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write to stdout: {}", self.0)
    }
}

impl std::error::Error for StdoutFailed {}

/// The outcome of a write to stdout: a closed pipe (`fmq read | head`) ends the output
/// quietly, any other failure is [`StdoutFailed`].
fn stdout_result(r: io::Result<()>) -> anyhow::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(StdoutFailed(e).into()),
        Ok(()) => Ok(()),
    }
}

/// Writes one line to stdout, never panicking (the `outln!` macro); see [`stdout_result`].
pub fn out_line(args: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    stdout_result(writeln!(out, "{args}").and_then(|()| out.flush()))
}

/// Writes one line to stderr, never panicking (the `errln!` macro). A failure is ignored:
/// there is nowhere left to report it, and the exit code still tells.
pub fn err_line(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}

/// `outln!("...", args)`: one line to stdout, an `anyhow::Result<()>` to `?`.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::util::out_line(format_args!($($arg)*))
    };
}

/// `errln!("...", args)`: one line to stderr; a failure is ignored.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::util::err_line(format_args!($($arg)*))
    };
}

pub(crate) use {errln, outln};

/// Runs `f` on a buffered stdout; a closed pipe (`fmq read | head`) ends the command
/// quietly with success instead of an error, and any other failure of stdout is one
/// [`StdoutFailed`] line. `f`'s `io::Error`s are its writes to `out`.
pub fn with_stdout<F>(f: F) -> anyhow::Result<()>
where
    F: FnOnce(&mut dyn Write) -> anyhow::Result<()>,
{
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let r = f(&mut out).and_then(|()| out.flush().map_err(Into::into));
    // (A BufWriter that drops after a failure tries once more and ignores the result.)
    match r {
        Err(e) => match e.downcast::<io::Error>() {
            Ok(io) => stdout_result(Err(io)),
            Err(other) => Err(other),
        },
        Ok(()) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_binary_suffixes_and_refuse_junk() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("10X").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999999T").is_err());
    }

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            utc(951_782_400_000_000_001),
            "2000-02-29T00:00:00.000000001Z"
        );
        assert_eq!(
            utc(1_795_000_000_000_000_000),
            "2026-11-18T11:06:40.000000000Z"
        );
    }

    #[test]
    fn histogram_quantiles_are_within_bucket_resolution() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v);
        }
        for (q, want) in [(0.5, 50_000.0), (0.99, 99_000.0), (0.999, 99_900.0)] {
            let got = h.quantile(q) as f64;
            assert!((got - want).abs() / want < 0.04, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.max(), 100_000);
        // As the demo sends it between processes: through its JSON line.
        let line = serde_json::to_string(&h.to_sparse()).unwrap();
        let mut m = Histogram::default();
        m.merge(&serde_json::from_str(&line).unwrap());
        assert_eq!(m.count(), h.count());
        assert_eq!(m.quantile(0.5), h.quantile(0.5));
        assert_eq!(m.max(), h.max());
    }
}
