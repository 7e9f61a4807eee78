// The body of the cargo-fuzz target `queue_files` (`fuzz/fuzz_targets/queue_files.rs`
// includes this file; `fmq/tests/fuzz_queue_files.rs` replays the checked-in corpus through
// it on stable). Included, not a crate: fmq-testkit stays free of a dependency on fmq.
//
// What it fuzzes: fmq's reading of a queue's files from disk (`fmq/src/map.rs`: the header
// read with `pread` before anything is mapped, the sizes it implies, the `.buf` header and
// its generation, the backup a re-creation keeps, files larger or smaller than the layout),
// then every operation on them: `info`, `slots`, `check`, a reader until `Empty`, a writer's
// open with its recovery, and `remove`. The files start as a real queue's (8 slots, 1 KiB,
// 5 messages) and the input patches words of either file, resizes them, swaps in a backup,
// or renames them, so the fuzzer gets past the magic and checksums.
//
// Properties (DESIGN §4, invariants 6 and 7; docs/safety.md): never a panic on any bytes;
// every error is a value; a writer that opens the damaged queue recovers it into a queue in
// which `check` finds nothing wrong but payloads the damage changed (their checksums), and
// a message it writes then reads back exactly; `remove` removes it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The fuzzer's bytes, front to back; zeros once used up.
struct FuzzInput<'a> {
    data: &'a [u8],
    at: usize,
}

impl FuzzInput<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        u64::from_le_bytes(b)
    }
    fn done(&self) -> bool {
        self.at >= self.data.len()
    }
}

/// A real queue's `.stat` and `.buf`, made once per process.
fn base_files() -> &'static (Vec<u8>, Vec<u8>) {
    static BASE: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = work_dir().join("base");
        let _ = std::fs::create_dir_all(&dir);
        let q = dir.join("q");
        let opts = fmq::CreateOptions {
            slots_count: 8,
            buf_size_bytes: 1024,
            replace: true,
            ..fmq::CreateOptions::default()
        };
        let mut w = fmq::Writer::create(&q, &opts).expect("create the base queue");
        for i in 0..5u8 {
            w.write(1, i32::from(i), &[i; 37]).expect("write the base queue");
        }
        w.flush().expect("flush the base queue");
        drop(w);
        let stat = std::fs::read(dir.join("q.stat")).expect("read q.stat");
        let buf = std::fs::read(dir.join("q.buf")).expect("read q.buf");
        let _ = fmq::remove(&q);
        (stat, buf)
    })
}

/// A directory of this process's on a tmpfs where there is one.
fn work_dir() -> PathBuf {
    let root = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    root.join(format!("fmq-fuzz-queue-files-{}", std::process::id()))
}

fn patch(bytes: &mut [u8], offset: u16, value: u64) {
    if bytes.len() < 8 {
        return;
    }
    let at = (usize::from(offset) % (bytes.len() - 7)) & !7;
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

fn resize(bytes: &mut Vec<u8>, how: u8, n: u16) {
    match how % 4 {
        1 => bytes.truncate(usize::from(n) % (bytes.len() + 1)),
        2 => bytes.resize(bytes.len() + usize::from(n % 4096), 0),
        _ => {}
    }
}

pub fn queue_files(data: &[u8]) {
    let (base_stat, base_buf) = base_files();
    let mut input = FuzzInput { data, at: 0 };
    let flags = input.byte();
    let (mut stat, mut buf) = (base_stat.clone(), base_buf.clone());
    let (stat_how, stat_n, buf_how, buf_n) = (input.byte(), input.u16(), input.byte(), input.u16());
    let patches = input.byte() % 32;
    for _ in 0..patches {
        let which = input.byte();
        let (offset, value) = (input.u16(), input.u64());
        let value = match which >> 1 & 3 {
            // A small delta of the word that is there, or a bit flip: close to valid.
            0 => value,
            1 => value % 64,
            2 => 1u64 << (value % 64),
            _ => u64::MAX - value % 4,
        };
        if which & 1 == 0 {
            patch(&mut stat, offset, value);
        } else {
            patch(&mut buf, offset, value);
        }
    }
    resize(&mut stat, stat_how, stat_n);
    resize(&mut buf, buf_how, buf_n);

    let dir = work_dir().join("q");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("make the work directory");
    let q = dir.join("q");
    std::fs::write(dir.join("q.stat"), &stat).expect("write q.stat");
    match flags & 3 {
        // No .buf, or the .buf only under its backup name (a re-creation that died).
        1 => {}
        2 => {
            let generation = stat.get(8 * 5..8 * 6).map_or(0, |b| {
                u64::from_le_bytes(b.try_into().unwrap_or([0; 8]))
            });
            std::fs::write(dir.join(format!(".q.buf.{generation}")), &buf).expect("write backup");
            std::fs::write(dir.join("q.buf"), base_buf).expect("write q.buf");
        }
        _ => std::fs::write(dir.join("q.buf"), &buf).expect("write q.buf"),
    }
    if flags & 4 != 0 {
        // A lock file with garbage in it.
        std::fs::write(dir.join("q.lock"), &data[..data.len().min(40)]).expect("write q.lock");
    }

    let _ = fmq::info(&q);
    let _ = fmq::slots(&q);
    let _ = fmq::check(&q);
    let ropts = fmq::ReaderOptions {
        start: fmq::StartAt::Oldest,
        lag_policy: fmq::LagPolicy::ResumeAtOldest,
        wait: fmq::WaitStrategy::poll(std::time::Duration::from_millis(1)),
        max_message_bytes: 1 << 20,
    };
    if let Ok(mut r) = fmq::Reader::open(&q, &ropts) {
        for _ in 0..64 {
            match r.try_read() {
                Err(fmq::TryReadError::Empty) => break,
                Err(fmq::TryReadError::Failed(e)) if e.is_fatal() => break,
                _ => {}
            }
        }
    }
    if flags & 8 == 0 || input.done() {
        if let Ok(mut w) = fmq::Writer::open(&q, &fmq::WriterOptions::default()) {
            let payload = b"written after the recovery";
            let id = match w.write(7, 8, payload) {
                Ok(id) => id,
                Err(e) => panic!("invariant 7: a recovered queue refuses a write: {e}"),
            };
            let mut r = fmq::Reader::open(&q, &ropts).expect("a reader opens a recovered queue");
            r.seek(fmq::StartAt::Id(id));
            match r.try_read() {
                Ok(m) => assert!(
                    m.payload == payload && m.meta.msg_type == 7 && m.meta.subtype == 8,
                    "invariant 7: the message written after recovery reads back exactly"
                ),
                Err(e) => panic!("invariant 7: the message written after recovery fails: {e}"),
            }
            drop(r);
            drop(w);
            // Recovery restores the structure (commit line, stamps, positions), not payload
            // bytes the damage changed: those messages stay, and report their checksum.
            let report = fmq::check(&q).expect("check opens a recovered queue");
            let structural: Vec<&String> = report
                .problems
                .iter()
                .filter(|p| !p.contains("checksum mismatch"))
                .collect();
            assert!(
                structural.is_empty(),
                "invariant 7: check finds a recovered queue structurally broken: {structural:?}"
            );
        }
    }
    let _ = fmq::remove(&q);
    let _ = std::fs::remove_dir_all(&dir);
}
