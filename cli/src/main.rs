//! `fmq`: the command-line tool of DESIGN §6 — create, write, read, mon, info, check, clear,
//! remove, and the live demo. Uses only the `fmq` crate's public API.
//!
//! Exit codes: 0 success, 1 error (one clear line on stderr, never a backtrace), 2 usage error
//! (clap's). Output to a closed pipe ends quietly.

mod commands;
mod demo;
mod dmap;
mod input;
mod ldata;
mod ldata_demo;
mod list;
mod mon;
mod select;
mod top;
mod util;
mod watch;
mod write;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::util::{errln, parse_secs, parse_size};

/// `fmq --version`: the crate's version and the commit it was built from (`build.rs`).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("FMQ_COMMIT"),
    ")"
);

/// The exit codes, in `fmq --help` and the README.
const EXIT_CODES: &str = "Exit codes: 0 success; 1 error (one line on stderr, never a \
    backtrace); 2 usage error; 128 + N: `fmq write` stopped by signal N (130 SIGINT, 143 \
    SIGTERM, 129 SIGHUP). Data goes to stdout, diagnostics to stderr.";

/// fmq: a single-writer / multi-reader message queue for processes on one host.
///
/// A queue is DIR/NAME (files NAME.stat, NAME.buf and the lock NAME.lock), DIR/shmem_KEY or
/// shm:NAME (a shared-memory segment in /dev/shm).
#[derive(Parser, Debug)]
#[command(
    name = "fmq",
    version = VERSION,
    propagate_version = true,
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a queue (refuses to clobber an existing one unless --force).
    Create {
        /// The queue.
        queue: String,
        /// Number of slots: at most this many messages are present at once.
        #[arg(long, default_value_t = 1024)]
        slots: u32,
        /// Size of the message buffer (K, M, G suffixes).
        #[arg(long, default_value = "10M", value_parser = parse_size)]
        size: u64,
        /// Replace an existing queue (its readers are told it was replaced).
        #[arg(long)]
        force: bool,
        /// Compress messages.
        #[arg(long, value_enum, default_value_t = Codec::None)]
        compress: Codec,
        /// Mode of the new files, in octal.
        #[arg(long, default_value = "644", value_parser = parse_mode)]
        mode: u32,
        /// Blocking (archive) mode: the writer waits rather than overwrite a message that a
        /// registered reader (`fmq read --register`) has not read.
        #[arg(long)]
        blocking: bool,
        /// Reader records for registered readers (default 8 with --blocking, else 0).
        #[arg(long)]
        readers_max: Option<u32>,
        /// A registered reader silent for longer than SECS is judged dead and unregistered
        /// (0: only when its process is gone).
        #[arg(long, default_value = "10", value_parser = parse_secs)]
        reader_timeout: f64,
        /// One JSON object (the queue, its layout, its generation) instead of the line.
        #[arg(long)]
        json: bool,
    },
    /// Write each MSG, or each record of stdin (or --file) when none is given, as one message.
    ///
    /// Records are lines by default (for text); binary records go through --input raw (all
    /// of the input is one message), framed (each record a 4-byte big-endian length and
    /// that many bytes: what `fmq read --format framed` prints) or json (the objects `fmq
    /// read --format json` prints, with their type, subtype and time). Lines mode warns once
    /// when the input is not text.
    ///
    /// The writer lock is held from before stdin is read until it ends. A record longer
    /// than the queue's largest message is refused as soon as that is known, without being
    /// read whole. The queue is always flushed at the end, and before a failure is reported
    /// ("wrote N messages to Q; record N+1 (line N+1) failed: ...").
    ///
    /// SIGINT, SIGTERM and SIGHUP stop it cleanly between messages, even while it waits for
    /// input: the records already read are written, the queue is flushed and closed (its
    /// writer mark cleared), and the exit code is 128 + the signal (130, 143, 129), as a
    /// shell reports it. A second signal ends it at once (the next writer recovers the
    /// queue).
    ///
    /// Exit codes: 0 every message written, 1 error, 2 usage error, 128 + N stopped by
    /// signal N.
    Write(WriteCli),
    /// Print messages.
    Read(ReadCli),
    /// Monitor a queue (LROSE FmqMon): per-interval rates, one line per message, or text.
    Mon(MonCli),
    /// Show the header, the writer mark, usage and (with --slots) the slot table.
    Info {
        /// The queue.
        queue: String,
        /// Also list the slot table.
        #[arg(long)]
        slots: bool,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Verify header, slots and every message's checksum: exit 0 healthy, 1 corrupt.
    Check {
        /// The queue.
        queue: String,
        /// One JSON object: healthy, messages_checked, warnings, problems.
        #[arg(long)]
        json: bool,
    },
    /// Clear a stale writer mark (after a writer died).
    Clear {
        /// The queue.
        queue: String,
    },
    /// Delete a queue's files or shared-memory segment.
    Remove {
        /// The queue.
        queue: String,
        /// Remove even while a writer holds it.
        #[arg(long)]
        force: bool,
    },
    /// List the fmq queues in the shared-memory directory and under each DIR (found by their
    /// magic, not their names): backend, size, writer, youngest id, age of the last write,
    /// registered readers and their lag.
    List {
        /// Directories to search (8 levels deep; symlinks are not followed).
        dirs: Vec<std::path::PathBuf>,
        /// One JSON array of objects.
        #[arg(long)]
        json: bool,
    },
    /// Remove the queues whose writer is gone and whose last write is older than DURATION,
    /// in the shared-memory directory and under each DIR. Only fmq queues of this user's are
    /// ever removed; a queue whose writer lives is never touched.
    Gc {
        /// Directories to search (8 levels deep; symlinks are not followed).
        dirs: Vec<std::path::PathBuf>,
        /// Remove queues whose writer is gone (required: gc never removes another kind).
        #[arg(long, required = true)]
        dead: bool,
        /// Only those whose last write (or creation, if empty) is older than this: 0s, 90m,
        /// 7d, 1h30m.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        older_than: Duration,
        /// Say what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// A live view of the queues `fmq list` finds: writer, messages/s, bytes/s, a rate
    /// sparkline, youngest id, registered readers' lag. Keys: s sort, up/down move, Enter
    /// show one queue, Esc back, q quit.
    Top {
        /// Directories to search besides the shared-memory directory.
        dirs: Vec<std::path::PathBuf>,
        /// Seconds between samples.
        #[arg(long, default_value = "1", value_parser = parse_secs)]
        interval: f64,
    },
    /// latest_data_info: data-arrival events of a data directory (LROSE's _latest_data_info,
    /// on an fmq event queue).
    #[command(subcommand)]
    Ldata(ldata::LdataCommand),
    /// The data map (LROSE's DataMapper and PrintDataMap): every data set's latest data,
    /// in SQLite in the state directory (FMQ_STATE_DIR, /var/lib/fmq, ~/.local/state/fmq).
    #[command(subcommand)]
    Dmap(dmap::DmapCommand),
    /// The live demo: one writer process and N reader processes on a shared-memory queue.
    Demo(demo::DemoArgs),
    /// Print a shell completion script (install: `fmq completions bash >
    /// ~/.local/share/bash-completion/completions/fmq`; zsh: into a directory of $fpath as
    /// _fmq; fish: ~/.config/fish/completions/fmq.fish).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (fmq.1 and one per command, fmq-read.1, ...) into DIR (install:
    /// `fmq man ~/.local/share/man/man1`), or print fmq.1 when no DIR is given.
    Man {
        /// The directory to write the pages into.
        dir: Option<std::path::PathBuf>,
    },
    /// (internal) the demo's writer process.
    #[command(hide = true, name = "demo-writer")]
    DemoWriter(demo::WriterArgs),
    /// (internal) a demo reader process.
    #[command(hide = true, name = "demo-reader")]
    DemoReader(demo::ReaderArgs),
}

/// Compression codecs.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Codec {
    /// No compression.
    None,
    /// LZ4.
    Lz4,
}

/// Where a reader starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartFrom {
    /// The oldest message present.
    Oldest,
    /// The youngest message present.
    Youngest,
    /// After the youngest: only new messages.
    End,
    /// Message N.
    Id(u64),
    /// The first message whose time is at or after this many nanoseconds since the epoch.
    Time(i64),
}

/// A duration such as `0s`, `90m`, `7d`, `1h30m`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration such as 90m or 7d ({e})"))
}

/// `--from`: oldest, youngest, end, id:N or time:RFC3339.
fn parse_from(s: &str) -> Result<StartFrom, String> {
    match s {
        "oldest" => return Ok(StartFrom::Oldest),
        "youngest" => return Ok(StartFrom::Youngest),
        "end" => return Ok(StartFrom::End),
        _ => {}
    }
    if let Some(n) = s.strip_prefix("id:") {
        return match n.parse::<u64>() {
            Ok(id) if id > 0 => Ok(StartFrom::Id(id)),
            _ => Err(format!("{n:?} is not a message id (1, 2, ...)")),
        };
    }
    if let Some(t) = s.strip_prefix("time:") {
        let at = humantime::parse_rfc3339_weak(t).map_err(|e| {
            format!("{t:?} is not an RFC 3339 time such as 2026-12-07T10:00:00Z ({e})")
        })?;
        let ns = at
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| format!("{t:?} is before 1970"))?
            .as_nanos();
        return i64::try_from(ns)
            .map(StartFrom::Time)
            .map_err(|_| format!("{t:?} is too far in the future"));
    }
    Err(format!(
        "{s:?}: expected oldest, youngest, end, id:N or time:RFC3339"
    ))
}

/// Output format of `read`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// The payload as text, one message per line.
    Text,
    /// One JSON object per line.
    Json,
    /// The payload bytes of every message, concatenated with nothing between them (for one
    /// message; use framed or json for a stream).
    Raw,
    /// Each message as a 4-byte big-endian length and its payload (what `fmq write --input
    /// framed` reads).
    Framed,
}

/// `mon` modes.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum MonMode {
    /// Per-interval counts and rates.
    Summary,
    /// One line per message.
    Full,
    /// Message text.
    Ascii,
}

/// An octal file mode: permission bits only. The setuid, setgid and sticky bits and
/// world-writable modes are refused, each as such (DESIGN §5).
fn parse_mode(s: &str) -> Result<u32, String> {
    let m = match u32::from_str_radix(s.trim_start_matches("0o"), 8) {
        Ok(m) if m <= 0o7777 => m,
        _ => return Err(format!("invalid mode {s:?}: give octal digits such as 644")),
    };
    let special: Vec<&str> = [(0o4000, "setuid"), (0o2000, "setgid"), (0o1000, "sticky")]
        .iter()
        .filter(|(bit, _)| m & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    if !special.is_empty() {
        return Err(format!(
            "mode {m:o} sets the {} bit{}; queue files take permission bits only (such as 644)",
            special.join(" and "),
            if special.len() > 1 { "s" } else { "" }
        ));
    }
    if m & 0o002 != 0 {
        return Err(format!("mode {m:o} is world-writable; fmq refuses that"));
    }
    Ok(m)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    use commands as c;
    match cli.command {
        Command::Create {
            queue,
            slots,
            size,
            force,
            compress,
            mode,
            blocking,
            readers_max,
            reader_timeout,
            json,
        } => c::create(
            &queue,
            &c::CreateArgs {
                slots,
                size,
                force,
                lz4: matches!(compress, Codec::Lz4),
                mode,
                blocking,
                readers_max: readers_max.unwrap_or(if blocking { 8 } else { 0 }),
                reader_timeout: Duration::from_secs_f64(reader_timeout),
                json,
            },
        ),
        Command::Write(w) => run_write(w),
        Command::Read(r) => run_read(r),
        Command::Mon(m) => run_mon(m),
        Command::Info { queue, slots, json } => c::info(&queue, slots, json),
        Command::Check { queue, json } => c::check(&queue, json),
        Command::Clear { queue } => c::clear(&queue),
        Command::Remove { queue, force } => c::remove(&queue, force),
        Command::List { dirs, json } => list::list(&dirs, json),
        Command::Gc {
            dirs,
            dead: _,
            older_than,
            dry_run,
        } => list::gc(&dirs, older_than, dry_run),
        Command::Top { dirs, interval } => {
            top::run(dirs, Duration::from_secs_f64(interval.max(0.05)))
        }
        Command::Ldata(cmd) => ldata::run(cmd),
        Command::Dmap(cmd) => dmap::run(cmd),
        Command::Demo(args) => demo::run(args),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "fmq",
                &mut out,
            );
            util::with_stdout(|o| Ok(o.write_all(&out)?))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir } => man(dir.as_deref()),
        Command::DemoWriter(args) => demo::writer(args),
        Command::DemoReader(args) => demo::reader(args),
    }
}

/// `fmq man [DIR]`.
fn man(dir: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let cmd = <Cli as clap::CommandFactory>::command();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .map_err(|e| anyhow::anyhow!("writing man pages into {}: {e}", dir.display()))?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            util::with_stdout(|o| Ok(o.write_all(&out)?))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run_write(w: WriteCli) -> anyhow::Result<ExitCode> {
    write::write(
        &w.queue,
        &write::WriteArgs {
            msg_type: w.msg_type,
            subtype: w.subtype,
            timeout: w.timeout.map(Duration::from_secs_f64),
            flush_every: w.flush_every,
            flush_interval: w.flush_interval.map(Duration::from_secs_f64),
            input: w.input,
            file: w.file,
            create: w.create.then_some((w.slots, w.size)),
            json: w.json,
        },
        &w.msgs,
    )
}

fn run_read(r: ReadCli) -> anyhow::Result<ExitCode> {
    commands::read(
        &r.queue,
        &commands::ReadArgs {
            sel: r.filter.selection(r.from),
            follow: r.follow,
            count: r.count,
            timeout: r.timeout.map(Duration::from_secs_f64),
            format: r.format,
            register: r.register,
        },
    )
}

fn run_mon(m: MonCli) -> anyhow::Result<ExitCode> {
    let from = m.from.unwrap_or(if m.start {
        StartFrom::Oldest
    } else {
        StartFrom::End
    });
    let sel = m.filter.selection(from);
    if m.json && m.mode == MonMode::Ascii {
        anyhow::bail!("--json is for --mode summary or full (ascii prints the messages' text)");
    }
    mon::run(&m.queue, m.mode, m.interval, &sel, m.count, m.json)
}

fn main() -> ExitCode {
    // A bug must still end in one line, not a backtrace, and never in a second panic.
    std::panic::set_hook(Box::new(|info| {
        errln!("fmq: internal error: {info}");
    }));
    fmq::install_sigbus_guard();
    fmq::ignore_sigxfsz();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e),
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            errln!("fmq: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Prints clap's usage error (exit 2), help or version (exit 0); a help or version that
/// cannot be written is exit 1 with one line, as every failed stdout.
fn usage(e: &clap::Error) -> ExitCode {
    let code = e.exit_code();
    if let Err(io) = e.print() {
        if code == 0 && io.kind() != std::io::ErrorKind::BrokenPipe {
            errln!("fmq: error: {}", util::StdoutFailed(io));
            return ExitCode::from(1);
        }
    }
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}

/// The arguments of `fmq write` (its help is the doc comment of `Command::Write`).
#[derive(clap::Args, Debug)]
struct WriteCli {
    /// The queue.
    queue: String,
    /// Message type.
    #[arg(long = "type", default_value_t = 0, allow_negative_numbers = true)]
    msg_type: i32,
    /// Message subtype.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    subtype: i32,
    /// Blocking queues: fail when a write waits longer than SECS for registered readers
    /// (default: wait as long as they live).
    #[arg(long, value_parser = parse_secs)]
    timeout: Option<f64>,
    /// Flush (make durable, for a file-backed queue) after every N messages.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    flush_every: Option<u64>,
    /// Flush when SECS have passed since the last flush and messages are new, even
    /// while no input arrives.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    flush_interval: Option<f64>,
    /// The record format of stdin (or --file).
    #[arg(long, value_enum, default_value_t = input::InputFormat::Lines)]
    input: input::InputFormat,
    /// Read the records from FILE instead of stdin.
    #[arg(long, value_name = "FILE", conflicts_with = "msgs")]
    file: Option<std::path::PathBuf>,
    /// Create the queue when it does not exist (an existing queue is opened, never
    /// wiped), with --slots and --size.
    #[arg(long)]
    create: bool,
    /// With --create: number of slots.
    #[arg(long, default_value_t = 1024, requires = "create")]
    slots: u32,
    /// With --create: size of the message buffer (K, M, G suffixes).
    #[arg(long, default_value = "10M", value_parser = parse_size, requires = "create")]
    size: u64,
    /// At the end, one JSON object on stdout: written, first_id, last_id, stopped_by.
    #[arg(long)]
    json: bool,
    /// The messages.
    msgs: Vec<String>,
}

/// The arguments of `fmq read` (its help is the doc comment of `Command::Read`).
#[derive(clap::Args, Debug)]
struct ReadCli {
    /// The queue.
    queue: String,
    /// Where to start: oldest, youngest, end (only new messages), id:N (message N, or the
    /// oldest present if N is gone), time:RFC3339 (the first message written at or after
    /// that time, e.g. time:2026-12-07T10:00:00Z).
    #[arg(long, default_value = "end", value_parser = parse_from, value_name = "WHERE")]
    from: StartFrom,
    #[command(flatten)]
    filter: FilterArgs,
    /// Keep waiting for new messages.
    #[arg(long)]
    follow: bool,
    /// Stop after printing N messages.
    #[arg(long)]
    count: Option<u64>,
    /// With --follow: stop after SECS without a new message. Without: wait up to SECS
    /// for the first message.
    #[arg(long, value_parser = parse_secs)]
    timeout: Option<f64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Register as NAME: a blocking writer then never overwrites a message this reader
    /// has not read (the queue needs a reader registry: `fmq create --blocking`).
    #[arg(long, value_name = "NAME")]
    register: Option<String>,
}

/// `--type`, `--subtype` and `--until-id`, as `fmq read` and `fmq mon` take them.
#[derive(clap::Args, Debug)]
struct FilterArgs {
    /// Only messages of these types (comma-separated).
    #[arg(
        long = "type",
        value_name = "T",
        value_delimiter = ',',
        allow_negative_numbers = true
    )]
    msg_type: Vec<i32>,
    /// Only messages of these subtypes (comma-separated).
    #[arg(
        long,
        value_name = "S",
        value_delimiter = ',',
        allow_negative_numbers = true
    )]
    subtype: Vec<i32>,
    /// Stop after message N.
    #[arg(long, value_name = "N")]
    until_id: Option<u64>,
}

impl FilterArgs {
    /// The selection starting at `from`.
    fn selection(self, from: StartFrom) -> select::Selection {
        select::Selection {
            from,
            types: self.msg_type,
            subtypes: self.subtype,
            until_id: self.until_id,
        }
    }
}

/// The arguments of `fmq mon` (its help is the doc comment of `Command::Mon`).
#[derive(clap::Args, Debug)]
struct MonCli {
    /// The queue.
    queue: String,
    /// What to print.
    #[arg(long, value_enum, default_value_t = MonMode::Summary)]
    mode: MonMode,
    /// Seconds between summary lines.
    #[arg(long, default_value = "1", value_parser = parse_secs)]
    interval: f64,
    /// Start at the oldest message present instead of the end (as --from oldest).
    #[arg(long, conflicts_with = "from")]
    start: bool,
    /// Where to start: oldest, youngest, end, id:N, time:RFC3339 (as for `fmq read`).
    #[arg(long, value_parser = parse_from, value_name = "WHERE")]
    from: Option<StartFrom>,
    #[command(flatten)]
    filter: FilterArgs,
    /// One JSON object per interval (summary) or per message (full).
    #[arg(long)]
    json: bool,
    /// Stop after N messages (full, ascii) or N intervals (summary).
    #[arg(long)]
    count: Option<u64>,
}
