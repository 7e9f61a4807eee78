//! The data map (LROSE's DataMapper and PrintDataMap): one row per data set (host, data
//! directory, data type) with its latest data time, latest file, writer, event count, bytes
//! and first and last seen, in an SQLite database (WAL mode) in the state directory:
//! `FMQ_STATE_DIR`, else `/var/lib/fmq` when it is writable, else `$XDG_STATE_HOME/fmq`
//! (`~/.local/state/fmq`). Every `fmq ldata put` updates it after its event is recorded,
//! waiting at most its timeout for the database: the data file and the event matter more
//! than the map, so a map that is missing, locked for long or corrupt is one warning line,
//! never a failed or blocked put.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags};
use serde::{Deserialize, Serialize};

use crate::LdataInfo;

/// The database file's name in the state directory.
pub const DB_FILE: &str = "datamap.sqlite";

/// One data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSet {
    /// The host the data directory is on.
    pub host: String,
    /// The data directory.
    pub dir: String,
    /// The data type.
    pub data_type: String,
    /// The latest data time, seconds since the epoch.
    pub latest_time: i64,
    /// The latest file, relative to `dir`.
    pub latest_file: String,
    /// The program that wrote it.
    pub writer: String,
    /// Events recorded.
    pub events: i64,
    /// Bytes of the files recorded (as they were when recorded).
    pub bytes: i64,
    /// When the first event was recorded, ns since the epoch.
    pub first_seen_ns: i64,
    /// When the last event was recorded, ns since the epoch.
    pub last_seen_ns: i64,
}

/// The state directory (see the module doc).
pub fn state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FMQ_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let system = Path::new("/var/lib/fmq");
    if writable(system) {
        return system.to_path_buf();
    }
    match std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        Some(x) => PathBuf::from(x).join("fmq"),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".local/state/fmq")
        }
    }
}

fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    rustix::fs::access(c.as_c_str(), rustix::fs::Access::WRITE_OK).is_ok()
}

/// This host's name.
pub fn host() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Why the data map could not be used: one line.
#[derive(Debug)]
pub struct DmapError(pub String);

impl std::fmt::Display for DmapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for DmapError {}

fn err(db: &Path, e: impl std::fmt::Display) -> DmapError {
    DmapError(format!("data map {}: {e}", db.display()))
}

/// Opens (creating when `create`) the database, waiting at most `busy` for a writer.
pub fn open(state: &Path, create: bool, busy: Duration) -> Result<Connection, DmapError> {
    let db = state.join(DB_FILE);
    if create {
        std::fs::create_dir_all(state).map_err(|e| err(&db, e))?;
    }
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let c = Connection::open_with_flags(&db, flags).map_err(|e| err(&db, e))?;
    c.busy_timeout(busy).map_err(|e| err(&db, e))?;
    // WAL: readers (`dmap list`, the web page) never block producers, nor they them.
    c.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| err(&db, e))?;
    c.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| err(&db, e))?;
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS datasets (
            host TEXT NOT NULL, dir TEXT NOT NULL, data_type TEXT NOT NULL,
            latest_time INTEGER NOT NULL, latest_file TEXT NOT NULL, writer TEXT NOT NULL,
            events INTEGER NOT NULL, bytes INTEGER NOT NULL,
            first_seen_ns INTEGER NOT NULL, last_seen_ns INTEGER NOT NULL,
            PRIMARY KEY (host, dir, data_type));",
    )
    .map_err(|e| err(&db, e))?;
    Ok(c)
}

/// Records one event of `dir` in the data map (an upsert in one transaction).
pub fn record(state: &Path, dir: &Path, info: &LdataInfo, busy: Duration) -> Result<(), DmapError> {
    let db = state.join(DB_FILE);
    let c = open(state, true, busy)?;
    let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let bytes = std::fs::metadata(abs.join(&info.rel_data_path)).map_or(0, |m| m.len() as i64);
    let now = fmq::now_ns();
    c.execute(
        "INSERT INTO datasets VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8, ?8)
         ON CONFLICT (host, dir, data_type) DO UPDATE SET
            latest_time = max(latest_time, excluded.latest_time),
            latest_file = CASE WHEN excluded.latest_time >= latest_time
                          THEN excluded.latest_file ELSE latest_file END,
            writer = CASE WHEN excluded.latest_time >= latest_time
                     THEN excluded.writer ELSE writer END,
            events = events + 1,
            bytes = bytes + excluded.bytes,
            last_seen_ns = excluded.last_seen_ns",
        params![
            host(),
            abs.to_string_lossy(),
            info.data_type,
            info.unix_time,
            info.rel_data_path,
            info.writer,
            bytes,
            now
        ],
    )
    .map_err(|e| err(&db, e))?;
    Ok(())
}

/// Every data set, sorted by host, directory and type.
pub fn list(state: &Path, busy: Duration) -> Result<Vec<DataSet>, DmapError> {
    let db = state.join(DB_FILE);
    if !db.exists() {
        return Err(err(&db, "no data map yet (fmq ldata put makes it)"));
    }
    let c = open(state, false, busy)?;
    let mut q = c
        .prepare(
            "SELECT host, dir, data_type, latest_time, latest_file, writer, events, bytes,
                    first_seen_ns, last_seen_ns
             FROM datasets ORDER BY host, dir, data_type",
        )
        .map_err(|e| err(&db, e))?;
    let rows = q
        .query_map([], |r| {
            Ok(DataSet {
                host: r.get(0)?,
                dir: r.get(1)?,
                data_type: r.get(2)?,
                latest_time: r.get(3)?,
                latest_file: r.get(4)?,
                writer: r.get(5)?,
                events: r.get(6)?,
                bytes: r.get(7)?,
                first_seen_ns: r.get(8)?,
                last_seen_ns: r.get(9)?,
            })
        })
        .map_err(|e| err(&db, e))?;
    rows.collect::<Result<Vec<_>, _>>().map_err(|e| err(&db, e))
}
