//! Scenario: durability. The writer alone, 64-byte and 4 KiB messages: fmq on shared memory
//! and on files without `flush()`, and on files with `flush()` every 1, 100 and 10,000
//! messages; against a CRC-checked append log (length, CRC32C, payload; buffered, then
//! written and `fdatasync`ed every N) and SQLite in WAL mode (rusqlite, bundled SQLite,
//! `synchronous=FULL`, N rows per transaction). Files live on the real disk under the
//! scratch directory, never on tmpfs.
//! One criterion iteration = one message written (and made durable at its sync point).

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::io::{Seek, Write};
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use fmq_benches::config::{self, RING_L3};
use fmq_benches::rig::{self, Rig};
use fmq_benches::xrig::{Backend, FmqProc};

const EXE: &str = env!("CARGO_BIN_EXE_fmq-bench-child");
const EVERY: [u64; 3] = [1, 100, 10_000];
const SIZES: [usize; 2] = [64, 4 << 10];
/// The log starts over (truncated) past this size, like a rotated segment.
const LOG_SEGMENT_BYTES: u64 = 256 << 20;

struct AppendLog {
    file: std::io::BufWriter<std::fs::File>,
    path: std::path::PathBuf,
    payload: Vec<u8>,
    every: u64,
    count: u64,
    written: u64,
}

impl AppendLog {
    fn new(size: usize, every: u64) -> AppendLog {
        let path = config::scratch_dir().join(config::unique("log"));
        let f = std::fs::File::create(&path).expect("create log");
        AppendLog {
            file: std::io::BufWriter::with_capacity(256 << 10, f),
            path,
            payload: config::payload(size),
            every,
            count: 0,
            written: 0,
        }
    }
}

impl Rig for AppendLog {
    fn run(&mut self, n: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..n {
            let crc = crc32c::crc32c(&self.payload);
            self.file
                .write_all(&(self.payload.len() as u32).to_le_bytes())
                .expect("log");
            self.file.write_all(&crc.to_le_bytes()).expect("log");
            self.file.write_all(&self.payload).expect("log");
            self.written += 8 + self.payload.len() as u64;
            self.count += 1;
            if self.count.is_multiple_of(self.every) {
                self.file.flush().expect("flush");
                // SAFETY:
                // 1. The descriptor belongs to the open log file for the whole call.
                let rc = unsafe { libc::fdatasync(self.file.get_ref().as_raw_fd()) };
                assert_eq!(rc, 0, "fdatasync: {}", std::io::Error::last_os_error());
                if self.written > LOG_SEGMENT_BYTES {
                    let f = self.file.get_mut();
                    f.set_len(0).expect("truncate");
                    f.rewind().expect("rewind");
                    self.written = 0;
                }
            }
        }
        start.elapsed()
    }
    fn finish(self: Box<Self>) {
        let _ = std::fs::remove_file(&self.path);
    }
}

struct Sqlite {
    conn: rusqlite::Connection,
    path: std::path::PathBuf,
    payload: Vec<u8>,
    every: u64,
    count: u64,
}

impl Sqlite {
    fn new(size: usize, every: u64) -> Sqlite {
        let path = config::scratch_dir().join(config::unique("sqlite"));
        let conn = rusqlite::Connection::open(&path).expect("open sqlite");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("wal");
        conn.pragma_update(None, "synchronous", "FULL")
            .expect("synchronous");
        conn.execute_batch(
            "CREATE TABLE msgs (id INTEGER PRIMARY KEY, type INTEGER, time INTEGER, data BLOB);
             BEGIN;",
        )
        .expect("schema");
        Sqlite {
            conn,
            path,
            payload: config::payload(size),
            every,
            count: 0,
        }
    }
}

impl Rig for Sqlite {
    fn run(&mut self, n: u64) -> Duration {
        let start = Instant::now();
        let mut stmt = self
            .conn
            .prepare_cached("INSERT INTO msgs (type, time, data) VALUES (1, ?1, ?2)")
            .expect("prepare");
        for _ in 0..n {
            stmt.execute(rusqlite::params![fmq::now_ns(), &self.payload])
                .expect("insert");
            self.count += 1;
            if self.count.is_multiple_of(self.every) {
                self.conn.execute_batch("COMMIT; BEGIN;").expect("commit");
            }
        }
        drop(stmt);
        start.elapsed()
    }
    fn finish(self: Box<Self>) {
        let _ = self.conn.execute_batch("COMMIT;");
        drop(self.conn);
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", self.path.display()));
        }
    }
}

fn durability(c: &mut Criterion) {
    let mut g = rig::Group::new(c, "durability");
    for size in SIZES {
        let p = format!("n0_s{size}");
        g.bench("fmq-shm", &p, || {
            Box::new(FmqProc::new(EXE, Backend::Shm, 0, size, RING_L3, "spin"))
        });
        g.bench("fmq-file", &p, || {
            Box::new(FmqProc::new(EXE, Backend::File, 0, size, RING_L3, "spin"))
        });
        g.bench("applog", &p, || Box::new(AppendLog::new(size, u64::MAX)));
        for every in EVERY {
            let p = format!("n{every}_s{size}");
            g.bench("fmq-file", &p, || {
                Box::new(FmqProc::new(EXE, Backend::File, 0, size, RING_L3, "spin").flushing(every))
            });
            g.bench("applog", &p, || Box::new(AppendLog::new(size, every)));
            g.bench("sqlite-wal", &p, || Box::new(Sqlite::new(size, every)));
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config::criterion();
    targets = durability
}
criterion_main!(benches);
