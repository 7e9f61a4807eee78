//! A reader under test and its bookkeeping: every result goes through the oracle, and the
//! reader's own accounting must balance after every read (DESIGN invariant 4): ids strictly
//! increase, and `received + missed + corrupt` is exactly how far its position moved.

use std::sync::Arc;

use fmq_core::{HeapRegion, LagPolicy, Reader, ReaderConfig, StartAt};

use crate::oracle::{Oracle, Outcome};

/// One reader of the simulated queue.
pub struct SimReader {
    /// Its number, for traces.
    pub name: usize,
    reader: Reader<Arc<HeapRegion>>,
    policy: LagPolicy,
    /// The reader does not read before this step (lag).
    pub paused_until: u64,
    start: u64,
    last_id: u64,
    buf: Vec<u8>,
    /// Messages read and checked.
    pub received_count: u64,
    /// Ids lost to lag, as the reader reported them.
    pub missed_count: u64,
    /// `Lagged` results.
    pub lagged_count: u64,
    /// Torn messages reported corrupt (power loss only).
    pub corrupt_count: u64,
}

impl SimReader {
    /// Attaches a reader at `start`.
    pub fn attach(
        name: usize,
        region: Arc<HeapRegion>,
        start: StartAt,
        policy: LagPolicy,
    ) -> Result<SimReader, String> {
        let buf_size = region_buf_size(&region);
        let reader = Reader::attach(
            region,
            ReaderConfig {
                start,
                lag_policy: policy,
            },
        )
        .map_err(|e| format!("reader {name}: attach failed: {e}"))?;
        let pos = reader.position().0;
        Ok(SimReader {
            name,
            reader,
            policy,
            paused_until: 0,
            start: pos,
            last_id: 0,
            buf: vec![0; buf_size],
            received_count: 0,
            missed_count: 0,
            lagged_count: 0,
            corrupt_count: 0,
        })
    }

    /// The id the next read returns.
    pub fn position(&self) -> u64 {
        self.reader.position().0
    }

    /// The reader's lag policy.
    pub fn policy(&self) -> LagPolicy {
        self.policy
    }

    /// One `try_read`, checked.
    pub fn step(&mut self, oracle: &Oracle) -> Result<Outcome, String> {
        let want = self.position();
        let result = self
            .reader
            .try_read(&mut self.buf)
            .map(|meta| (meta, &self.buf[..meta.len]));
        let checked = oracle.check_read(want, self.policy, result);
        self.account(want, checked)
    }

    /// A read that straddles a writer operation: the reader loads the stamp and metadata and
    /// copies the payload in place (`read_with`), then `during` runs (the writer writes, and
    /// may reuse these very bytes), then the reader validates. `oracle_before` is the oracle
    /// as it was when the read began, `oracle_after` gives it afterwards. Returns whether
    /// `during` ran (it does not when the read fails before the copy).
    pub fn straddle(
        &mut self,
        oracle_before: &Oracle,
        during: impl FnOnce(),
        oracle_after: impl FnOnce() -> Oracle,
    ) -> Result<(Outcome, bool), String> {
        let want = self.position();
        let mut ran = false;
        let result = self.reader.read_with(|p| {
            let copy = p.to_vec();
            during();
            ran = true;
            copy
        });
        if !ran {
            // Failed in step 1-3, before anything changed: judge it on the state before.
            let r = result
                .as_ref()
                .map(|(m, c)| (*m, c.as_slice()))
                .map_err(|e| *e);
            let checked = oracle_before.check_read(want, self.policy, r);
            return self.account(want, checked).map(|o| (o, false));
        }
        let after = oracle_after();
        let checked = match &result {
            // A message returned was committed when the read began, and its bytes are the
            // ones copied *before* the writer ran: they must be that message's.
            Ok((meta, copy)) => oracle_before.check_read(want, self.policy, Ok((*meta, copy))),
            // A failure is judged on the state the validation saw.
            Err(e) => after.check_read(want, self.policy, Err(*e)),
        };
        self.account(want, checked).map(|o| (o, true))
    }

    fn account(
        &mut self,
        want: u64,
        checked: Result<(Outcome, u64), String>,
    ) -> Result<Outcome, String> {
        let name = self.name;
        let (outcome, next) = checked.map_err(|e| format!("reader {name}: {e}"))?;
        match outcome {
            Outcome::Read(id) => {
                if id <= self.last_id {
                    return Err(format!(
                        "reader {name}: id {id} after id {} (invariant 4: strictly increasing)",
                        self.last_id
                    ));
                }
                self.last_id = id;
                self.received_count += 1;
            }
            Outcome::Lagged(missed) => {
                self.missed_count += missed;
                self.lagged_count += 1;
            }
            Outcome::Corrupt(id) => {
                self.last_id = id;
                self.corrupt_count += 1;
            }
            Outcome::Empty => {}
        }
        let pos = self.position();
        if pos != next {
            return Err(format!(
                "reader {name}: after reading at {want} ({outcome:?}) it is at {pos}, want {next}"
            ));
        }
        let accounted = self.received_count + self.missed_count + self.corrupt_count;
        if pos - self.start != accounted {
            return Err(format!(
                "reader {name}: moved from {} to {pos} but received {} + missed {} + corrupt {} \
                 = {accounted} (invariant 4: every id accounted for)",
                self.start, self.received_count, self.missed_count, self.corrupt_count
            ));
        }
        Ok(outcome)
    }
}

fn region_buf_size(region: &HeapRegion) -> usize {
    use fmq_core::Region;
    region.buf_words().len() * 8
}
