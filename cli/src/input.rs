//! The record formats of `fmq write --input` (and, for `framed`, `fmq read --format`): pure
//! decoders over bytes, no I/O, so that every one of them is bounded, tested and fuzzed
//! (`fuzz/fuzz_targets/cli_input.rs`) the same way.
//!
//! * `lines`: every `\n` ends a record; one `\r` before it is dropped; a last record without
//!   its `\n` is a record too. For text.
//! * `raw`: all of the input is one record (an empty input is one empty record).
//! * `framed`: records of a 4-byte big-endian length N followed by N payload bytes, nothing
//!   between them, nothing after the last (Python: `struct.pack(">I", len(b)) + b`). What
//!   `fmq read --format framed` prints.
//! * `json`: one JSON object per line, as `fmq read --format json` prints them:
//!   `data_b64` (standard base64, required), and optionally `type`, `subtype`, `time_ns`
//!   (which then override `--type`, `--subtype` and the time of writing) and `len` (checked
//!   against the decoded bytes). Other fields (`id`) are ignored; blank lines are skipped.
//!
//! A decoder is given the bytes not yet consumed and whether the input has ended. It refuses
//! a record larger than the limit as soon as that is known: `framed` at its length field,
//! `lines` and `json` once a line has grown past what a record within the limit can take,
//! `raw` once the input has. So a writer never buffers more than the limit plus one read.

use base64::Engine;

/// A record format of `fmq write --input`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(fuzzing), derive(clap::ValueEnum))]
pub enum InputFormat {
    /// One message per line (`\n`, or `\r\n`, ends it). For text.
    Lines,
    /// All of the input is one message.
    Raw,
    /// Records of a 4-byte big-endian length and that many bytes (`fmq read --format framed`).
    Framed,
    /// One JSON object per line, as `fmq read --format json` prints: data_b64 and
    /// optionally type, subtype, time_ns.
    Json,
}

/// One record: its payload and the metadata its format carried.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub payload: Vec<u8>,
    pub msg_type: Option<i32>,
    pub subtype: Option<i32>,
    pub time_ns: Option<i64>,
}

/// Why a decoder stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The record is larger than the limit (known before it was read whole).
    TooLarge,
    /// The input is not of the format; the message says where and why.
    Malformed(String),
}

/// The bytes of a framed record's length field.
pub const FRAME_HEADER_BYTES: usize = 4;

/// The length field of a framed record of `len` payload bytes (`fmq read --format
/// framed`); `None` for 4 GiB or more, which it cannot hold (no fmq message is that large).
pub fn frame_header(len: usize) -> Option<[u8; FRAME_HEADER_BYTES]> {
    u32::try_from(len).ok().map(u32::to_be_bytes)
}

/// One framed record, for tests.
#[cfg(any(test, fuzzing))]
pub fn frame(payload: &[u8]) -> Option<Vec<u8>> {
    let mut out = frame_header(payload.len())?.to_vec();
    out.extend_from_slice(payload);
    Some(out)
}

/// A decoder of one input stream.
#[derive(Debug)]
pub struct Decoder {
    format: InputFormat,
    /// The largest payload a record may have.
    limit: usize,
    /// Raw: the one record was given.
    done: bool,
    /// The 1-based number of the next line (lines and json), for messages.
    line: u64,
}

impl Decoder {
    pub fn new(format: InputFormat, limit: usize) -> Decoder {
        Decoder {
            format,
            limit,
            done: false,
            line: 1,
        }
    }

    /// What a record is called in messages ("line 3", "record 3").
    pub fn unit(&self) -> &'static str {
        match self.format {
            InputFormat::Lines | InputFormat::Json => "line",
            InputFormat::Raw | InputFormat::Framed => "record",
        }
    }

    /// The longest line a record within the limit can take in `json`: base64 of the limit,
    /// plus room for the other fields and whitespace.
    fn json_line_limit(&self) -> usize {
        self.limit
            .div_ceil(3)
            .saturating_mul(4)
            .saturating_add(4096)
    }

    /// The next record in `buf` and the bytes it used, `None` if more input is needed (or, at
    /// the end of the input, if there is no record left).
    pub fn next(&mut self, buf: &[u8], eof: bool) -> Result<Option<(Record, usize)>, DecodeError> {
        match self.format {
            InputFormat::Lines => self.next_line(buf, eof),
            InputFormat::Raw => self.next_raw(buf, eof),
            InputFormat::Framed => self.next_frame(buf, eof),
            InputFormat::Json => self.next_json(buf, eof),
        }
    }

    fn next_line(&mut self, buf: &[u8], eof: bool) -> Result<Option<(Record, usize)>, DecodeError> {
        let (line, used) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) => (strip_cr(&buf[..at]), at + 1),
            None if eof && !buf.is_empty() => (strip_cr(buf), buf.len()),
            None => {
                // A partial line longer than the limit plus its `\r` is refused now.
                if buf.len() > self.limit.saturating_add(1) {
                    return Err(DecodeError::TooLarge);
                }
                return Ok(None);
            }
        };
        if line.len() > self.limit {
            return Err(DecodeError::TooLarge);
        }
        self.line += 1;
        Ok(Some((
            Record {
                payload: line.to_vec(),
                ..Record::default()
            },
            used,
        )))
    }

    fn next_raw(&mut self, buf: &[u8], eof: bool) -> Result<Option<(Record, usize)>, DecodeError> {
        if buf.len() > self.limit {
            return Err(DecodeError::TooLarge);
        }
        if !eof || self.done {
            return Ok(None);
        }
        self.done = true;
        Ok(Some((
            Record {
                payload: buf.to_vec(),
                ..Record::default()
            },
            buf.len(),
        )))
    }

    fn next_frame(
        &mut self,
        buf: &[u8],
        eof: bool,
    ) -> Result<Option<(Record, usize)>, DecodeError> {
        if buf.len() < FRAME_HEADER_BYTES {
            if eof && !buf.is_empty() {
                return Err(DecodeError::Malformed(format!(
                    "the input ended inside a record's 4-byte length ({} byte(s) of it)",
                    buf.len()
                )));
            }
            return Ok(None);
        }
        let mut head = [0u8; FRAME_HEADER_BYTES];
        head.copy_from_slice(&buf[..FRAME_HEADER_BYTES]);
        let len = u32::from_be_bytes(head);
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > self.limit {
            return Err(DecodeError::TooLarge);
        }
        let end = FRAME_HEADER_BYTES + len;
        if buf.len() < end {
            if eof {
                return Err(DecodeError::Malformed(format!(
                    "the input ended inside a record: its length says {len} bytes, {} came",
                    buf.len() - FRAME_HEADER_BYTES
                )));
            }
            return Ok(None);
        }
        Ok(Some((
            Record {
                payload: buf[FRAME_HEADER_BYTES..end].to_vec(),
                ..Record::default()
            },
            end,
        )))
    }

    fn next_json(&mut self, buf: &[u8], eof: bool) -> Result<Option<(Record, usize)>, DecodeError> {
        // Lines are counted here and kept only with a record: blank lines before a line
        // that has not fully arrived are scanned again by the next call (found by the
        // cli_input fuzz target: the read size changed the line number of an error).
        let mut number = self.line;
        let mut start = 0;
        loop {
            let rest = &buf[start..];
            let (line, used) = match rest.iter().position(|&b| b == b'\n') {
                Some(at) => (&rest[..at], at + 1),
                None if eof && !rest.is_empty() => (rest, rest.len()),
                None => {
                    if rest.len() > self.json_line_limit() {
                        return Err(DecodeError::TooLarge);
                    }
                    return Ok(None);
                }
            };
            if line.len() > self.json_line_limit() {
                return Err(DecodeError::TooLarge);
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                number += 1;
                start += used;
                continue;
            }
            let record = json_record(line, self.limit)
                .map_err(|e| DecodeError::Malformed(format!("line {number}: {e}")))?;
            self.line = number + 1;
            return match record {
                Some(r) => Ok(Some((r, start + used))),
                None => Err(DecodeError::TooLarge),
            };
        }
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// One `json` line as a record; `Ok(None)` when its payload is larger than `limit`.
fn json_record(line: &[u8], limit: usize) -> Result<Option<Record>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("not a JSON object ({e})"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| "not a JSON object (a JSON value of another kind)".to_string())?;
    let data = obj
        .get("data_b64")
        .ok_or_else(|| "no \"data_b64\" field (the payload, in standard base64)".to_string())?
        .as_str()
        .ok_or_else(|| "\"data_b64\" is not a string".to_string())?;
    if base64_len(data) > limit {
        return Ok(None);
    }
    let payload = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| format!("\"data_b64\" is not standard base64 ({e})"))?;
    if payload.len() > limit {
        return Ok(None);
    }
    let int = |name: &str| -> Result<Option<i64>, String> {
        match obj.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("\"{name}\" is not an integer of 64 bits")),
        }
    };
    let i32_field = |name: &str| -> Result<Option<i32>, String> {
        int(name)?
            .map(|n| i32::try_from(n).map_err(|_| format!("\"{name}\" {n} does not fit 32 bits")))
            .transpose()
    };
    if let Some(len) = obj.get("len") {
        if len.as_u64() != Some(payload.len() as u64) {
            return Err(format!(
                "\"len\" is {len} but \"data_b64\" holds {} bytes",
                payload.len()
            ));
        }
    }
    Ok(Some(Record {
        payload,
        msg_type: i32_field("type")?,
        subtype: i32_field("subtype")?,
        time_ns: int("time_ns")?,
    }))
}

/// The bytes a base64 string decodes to, at most (without decoding it).
fn base64_len(s: &str) -> usize {
    s.len() / 4 * 3 + (s.len() % 4).min(3)
}

/// Whether a `lines` record looks like text (no NUL, valid UTF-8): lines mode warns once
/// when one does not.
pub fn looks_like_text(payload: &[u8]) -> bool {
    !payload.contains(&0) && std::str::from_utf8(payload).is_ok()
}

/// Decodes all of `input` in chunks of `chunk` bytes, as `fmq write` reads it: the records,
/// or the error and how many records came before it. For tests and the fuzz target, which
/// check with it that no decoder buffers past its bound.
#[cfg(any(test, fuzzing))]
pub fn decode_all(
    format: InputFormat,
    limit: usize,
    input: &[u8],
    chunk: usize,
) -> (Vec<Record>, Option<DecodeError>) {
    let mut d = Decoder::new(format, limit);
    let mut records = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut fed = 0;
    let chunk = chunk.max(1);
    loop {
        let eof = fed >= input.len();
        if !eof {
            let n = chunk.min(input.len() - fed);
            pending.extend_from_slice(&input[fed..fed + n]);
            fed += n;
        }
        let eof = fed >= input.len();
        let mut start = 0;
        loop {
            match d.next(&pending[start..], eof) {
                Ok(Some((r, used))) => {
                    records.push(r);
                    start += used;
                }
                Ok(None) => break,
                Err(e) => return (records, Some(e)),
            }
        }
        pending.drain(..start);
        // The bound every decoder keeps: at most the limit plus a little, plus one read.
        let bound = match format {
            InputFormat::Json => d.json_line_limit(),
            _ => limit.saturating_add(FRAME_HEADER_BYTES),
        };
        assert!(
            pending.len() <= bound.saturating_add(1),
            "{format:?} buffered {} bytes past a limit of {limit}",
            pending.len()
        );
        if eof {
            return (records, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payloads(r: &[Record]) -> Vec<&[u8]> {
        r.iter().map(|r| r.payload.as_slice()).collect()
    }

    #[test]
    fn lines_lose_only_their_line_end_and_a_last_line_counts() {
        let (r, e) = decode_all(InputFormat::Lines, 100, b"abcd\nab\r\nab\r\r\n\nlast", 3);
        assert_eq!(e, None);
        assert_eq!(payloads(&r), [&b"abcd"[..], b"ab", b"ab\r", b"", b"last"]);
    }

    #[test]
    fn raw_is_one_record_even_when_empty() {
        let (r, e) = decode_all(InputFormat::Raw, 100, b"a\nb\r\n\0", 2);
        assert_eq!((payloads(&r), e), (vec![&b"a\nb\r\n\0"[..]], None));
        let (r, e) = decode_all(InputFormat::Raw, 100, b"", 2);
        assert_eq!((payloads(&r), e), (vec![&b""[..]], None));
    }

    #[test]
    fn framed_round_trips_any_bytes_and_empty_records() {
        let records: [&[u8]; 4] = [b"", b"\n\r\0", b"x", &[0xff; 300]];
        let input: Vec<u8> = records.iter().flat_map(|p| frame(p).unwrap()).collect();
        for chunk in [1, 3, 7, 4096] {
            let (r, e) = decode_all(InputFormat::Framed, 300, &input, chunk);
            assert_eq!((payloads(&r), e), (records.to_vec(), None), "chunk {chunk}");
        }
    }

    #[test]
    fn a_framed_length_above_the_limit_is_refused_before_its_bytes_come() {
        let mut d = Decoder::new(InputFormat::Framed, 10);
        assert_eq!(
            d.next(&11u32.to_be_bytes(), false),
            Err(DecodeError::TooLarge)
        );
    }

    #[test]
    fn a_truncated_frame_is_malformed_not_a_short_record() {
        let mut input = frame(b"hello").unwrap();
        input.pop();
        let (r, e) = decode_all(InputFormat::Framed, 100, &input, 2);
        assert!(r.is_empty());
        assert!(matches!(e, Some(DecodeError::Malformed(m)) if m.contains("says 5 bytes, 4 came")));
        let (_, e) = decode_all(InputFormat::Framed, 100, &[0, 0], 2);
        assert!(matches!(e, Some(DecodeError::Malformed(m)) if m.contains("4-byte length")));
    }

    #[test]
    fn a_partial_line_past_the_limit_is_refused_before_its_end() {
        let mut d = Decoder::new(InputFormat::Lines, 4);
        assert_eq!(d.next(b"abcd\r", false), Ok(None));
        assert_eq!(d.next(b"abcdef", false), Err(DecodeError::TooLarge));
    }

    #[test]
    fn json_carries_type_subtype_and_time_and_checks_len() {
        let input = b"{\"id\":7,\"type\":3,\"subtype\":-2,\"time_ns\":1700000000000000001,\"len\":2,\"data_b64\":\"AAo=\"}\n\n{\"data_b64\":\"\"}";
        let (r, e) = decode_all(InputFormat::Json, 100, input, 5);
        assert_eq!(e, None);
        assert_eq!(
            r,
            [
                Record {
                    payload: vec![0, b'\n'],
                    msg_type: Some(3),
                    subtype: Some(-2),
                    time_ns: Some(1_700_000_000_000_000_001),
                },
                Record::default(),
            ]
        );
        let (_, e) = decode_all(
            InputFormat::Json,
            100,
            b"{\"len\":3,\"data_b64\":\"AAo=\"}",
            5,
        );
        assert!(
            matches!(e, Some(DecodeError::Malformed(m)) if m.contains("line 1") && m.contains("\"len\""))
        );
    }

    #[test]
    fn json_that_is_not_an_object_with_data_names_the_line() {
        for (bad, says) in [
            (
                &b"{\"data_b64\":\"AA==\"}\n[1]"[..],
                "line 2: not a JSON object",
            ),
            (b"{\"type\":1}", "line 1: no \"data_b64\""),
            (b"{\"data_b64\":\"*\"}", "not standard base64"),
            (
                b"{\"data_b64\":\"\",\"type\":4294967296}",
                "does not fit 32 bits",
            ),
            (
                b"{\"data_b64\":\"\",\"time_ns\":1.5}",
                "\"time_ns\" is not an integer",
            ),
        ] {
            let (_, e) = decode_all(InputFormat::Json, 100, bad, 4);
            assert!(
                matches!(&e, Some(DecodeError::Malformed(m)) if m.contains(says)),
                "{bad:?}: {e:?}"
            );
        }
    }

    #[test]
    fn a_json_payload_above_the_limit_is_too_large() {
        let (_, e) = decode_all(InputFormat::Json, 2, b"{\"data_b64\":\"AAAA\"}", 64);
        assert_eq!(e, Some(DecodeError::TooLarge));
    }

    #[test]
    fn text_is_utf8_without_nul() {
        assert!(looks_like_text("température".as_bytes()));
        assert!(!looks_like_text(b"a\0b"));
        assert!(!looks_like_text(&[0xff, 0xfe]));
    }
}
