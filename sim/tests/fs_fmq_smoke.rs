//! fmq's real file layer on the simulated kernel, through the forwarder: a writer process
//! creates a queue and writes, a reader process reads it back. (A smoke test of the contract
//! between `fmq/src/sys.rs` and `sim/src/fs/`; the kernel's own properties are in
//! `fs_kernel.rs`.)
#![cfg(fmq_sim)]

use std::path::Path;
use std::sync::{Arc, Mutex};

use fmq::{CreateOptions, Reader, ReaderOptions, StartAt, Writer};
use fmq_sim::fs::{install_forwarder, Config, Fault, Kernel};

/// The forwarder has one target: the tests of this file take turns.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn a_queue_written_by_one_simulated_process_is_read_by_another() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert!(install_forwarder());
    let k = Kernel::new(Config {
        seed: 1,
        ..Config::default()
    });
    Kernel::activate(&k);
    k.mkdir(Path::new("/tmp"), 0).unwrap();
    let (w, r) = (k.spawn_process(1000), k.spawn_process(1000));
    let out = Arc::new(Mutex::new(Vec::new()));
    let o = Arc::clone(&out);
    k.submit(
        w,
        Box::new(move || {
            let opts = CreateOptions {
                slots_count: 8,
                buf_size_bytes: 4096,
                ..CreateOptions::default()
            };
            let mut writer =
                Writer::create("/tmp/q", &opts).expect("create on the simulated kernel");
            for i in 0..3u8 {
                writer.write(1, 0, &[i; 5]).expect("write");
            }
            o.lock()
                .unwrap()
                .push(format!("wrote, youngest {:?}", writer.youngest_id()));
        }),
    );
    k.run();
    let o = Arc::clone(&out);
    k.submit(
        r,
        Box::new(move || {
            let opts = ReaderOptions {
                start: StartAt::Oldest,
                ..ReaderOptions::default()
            };
            let mut reader = Reader::open("/tmp/q", &opts).expect("open on the simulated kernel");
            for _ in 0..3 {
                let m = reader.try_read().expect("a message");
                o.lock().unwrap().push(format!("{:?}", m.payload));
            }
        }),
    );
    k.run();
    let out = out.lock().unwrap();
    assert_eq!(out.len(), 4, "{out:?}");
    assert_eq!(
        out[1..],
        ["[0, 0, 0, 0, 0]", "[1, 1, 1, 1, 1]", "[2, 2, 2, 2, 2]"],
        "{out:?}"
    );
    let names: Vec<_> = k
        .list(Path::new("/tmp"))
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    println!("{names:?} {:?}", k.events());
}

/// Runs `job` as a new process of `k`; its result.
fn as_new_process<T: Send + 'static>(
    k: &Arc<Kernel>,
    job: impl FnOnce() -> T + Send + 'static,
) -> T {
    let pid = k.spawn_process(1000);
    let out = Arc::new(Mutex::new(None));
    let o = Arc::clone(&out);
    assert!(k.submit(pid, Box::new(move || *o.lock().unwrap() = Some(job()))));
    k.run();
    let r = out.lock().unwrap().take();
    r.expect("the job ran")
}

#[test]
fn after_a_kill_at_any_call_of_create_and_write_a_new_writer_opens_the_queue() {
    fault_at_every_call_of_create_and_write(Fault::Kill);
}

/// Failed before the fix of `lock_text` (fmq, not the kernel): `Writer::create` writes the
/// lock file's contents (`ftruncate` + `pwrite`) after the `fsync_dir` that makes its name
/// durable, and never `fsync`s it; a power loss then may leave `q.lock` at its new length
/// with its page never written back (zeros: on ext4 the size is journaled metadata, the data
/// delayed allocation), and `open_or_create` refused the queue for good: "q.lock exists and
/// is not an fmq lock file: refusing to touch it" (3 of 67 power-loss points). A lock file of
/// NUL bytes is now a lock file without a pid.
#[test]
fn after_a_power_loss_at_any_call_of_create_and_write_a_new_writer_opens_the_queue() {
    fault_at_every_call_of_create_and_write(Fault::PowerLoss);
}

/// For each yield point of a process creating a queue and writing 3 messages, in turn: the
/// fault there, then a new process's `open_or_create`, a write and a read must succeed.
fn fault_at_every_call_of_create_and_write(fault: Fault) {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert!(install_forwarder());
    let opts = CreateOptions {
        slots_count: 8,
        buf_size_bytes: 4096,
        ..CreateOptions::default()
    };
    let mut failures = Vec::new();
    let mut points = 0;
    {
        for at in 0.. {
            let k = Kernel::new(Config {
                seed: at,
                ..Config::default()
            });
            Kernel::activate(&k);
            k.mkdir(Path::new("/tmp"), 0).unwrap();
            let fired = Arc::new(Mutex::new(false));
            let f = Arc::clone(&fired);
            k.set_fault_plan(Some(Box::new(move |y| {
                if y.index == at {
                    *f.lock().unwrap() = true;
                    fault
                } else {
                    Fault::None
                }
            })));
            let o = opts.clone();
            let first = as_new_process(&k, move || {
                let mut w = Writer::create("/tmp/q", &o).map_err(|e| e.to_string())?;
                for i in 0..3u8 {
                    w.write(1, 0, &[i; 5]).map_err(|e| e.to_string())?;
                }
                Ok::<(), String>(())
            });
            k.set_fault_plan(None);
            if !*fired.lock().unwrap() {
                assert!(first.is_ok(), "no fault, yet {first:?}");
                break;
            }
            points += 1;
            let o = opts.clone();
            let second = as_new_process(&k, move || {
                let mut w =
                    Writer::open_or_create("/tmp/q", &o).map_err(|e| format!("open: {e}"))?;
                w.write(2, 0, b"after").map_err(|e| format!("write: {e}"))?;
                let ropts = ReaderOptions {
                    start: StartAt::Youngest,
                    ..ReaderOptions::default()
                };
                let mut r = Reader::open("/tmp/q", &ropts).map_err(|e| format!("reader: {e}"))?;
                let m = r.try_read().map_err(|e| format!("read: {e}"))?;
                Ok::<Vec<u8>, String>(m.payload.to_vec())
            });
            match second {
                Ok(p) if p == b"after" => {}
                other => failures.push(format!("{fault:?} at yield point {at}: {other:?}")),
            }
        }
    }
    assert!(points > 50, "{fault:?} at {points} yield points");
    assert!(
        failures.is_empty(),
        "{} of {points}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The yield points of a writer and a reader process running at once on a kernel of `seed`.
fn fmq_trace(seed: u64) -> Vec<(u32, &'static str, Option<std::path::PathBuf>)> {
    let k = Kernel::new(Config {
        seed,
        ..Config::default()
    });
    Kernel::activate(&k);
    k.mkdir(Path::new("/tmp"), 0).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&log);
    k.set_fault_plan(Some(Box::new(move |y| {
        l.lock().unwrap().push((y.pid, y.call, y.path.clone()));
        Fault::None
    })));
    let opts = CreateOptions {
        slots_count: 8,
        buf_size_bytes: 4096,
        ..CreateOptions::default()
    };
    let (w, r) = (k.spawn_process(1000), k.spawn_process(1000));
    k.submit(
        w,
        Box::new(move || {
            let mut writer = Writer::open_or_create("/tmp/q", &opts).unwrap();
            for i in 0..5u8 {
                writer.write(1, 0, &[i; 9]).unwrap();
            }
        }),
    );
    k.submit(
        r,
        Box::new(move || {
            for _ in 0..5 {
                if let Ok(mut reader) = Reader::open("/tmp/q", &ReaderOptions::default()) {
                    let _ = reader.try_read();
                }
            }
        }),
    );
    k.run();
    let out = log.lock().unwrap().clone();
    out
}

#[test]
fn fmq_on_the_simulated_kernel_replays_call_for_call_from_its_seed() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert!(install_forwarder());
    let a = fmq_trace(3);
    assert!(a.len() > 50, "{} yield points", a.len());
    assert_eq!(a, fmq_trace(3));
    assert_ne!(a, fmq_trace(4), "another seed, another interleaving");
}

/// The generation tells a re-created queue from the one it replaced (readers, the backup
/// name of a re-creation's `.buf`): it must grow even when the wall clock steps back. Before
/// the fix a re-creation's generation was its creation time alone (its files are new), so a
/// clock stepped back an hour gave the new queue a generation below the old one's, and a step
/// back to the old one's very nanosecond would have given both the same.
#[test]
fn a_re_created_queue_gets_a_generation_above_the_old_one_even_after_the_clock_stepped_back() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert!(install_forwarder());
    for path in ["/tmp/q", "/tmp/shmem_5"] {
        let k = Kernel::new(Config {
            seed: 9,
            ..Config::default()
        });
        Kernel::activate(&k);
        k.mkdir(Path::new("/tmp"), 0).unwrap();
        k.mkdir(Path::new("/dev"), 0).unwrap();
        k.mkdir(Path::new("/dev/shm"), 0).unwrap();
        let opts = CreateOptions {
            slots_count: 8,
            buf_size_bytes: 4096,
            ..CreateOptions::default()
        };
        let first = opts.clone();
        let old = as_new_process(&k, move || {
            Writer::create(path, &first)
                .map(|w| w.generation())
                .map_err(|e| e.to_string())
        })
        .expect("create");
        k.step_wall_clock_back(3_600_000_000_000);
        let replace = CreateOptions {
            replace: true,
            ..opts
        };
        let new = as_new_process(&k, move || {
            Writer::create(path, &replace)
                .map(|w| w.generation())
                .map_err(|e| e.to_string())
        })
        .expect("create --force");
        assert!(new > old, "{path}: generation {new} after {old}");
    }
}
