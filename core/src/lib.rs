//! # fmq-core: the single-writer / multi-reader queue protocol
//!
//! `#![no_std]` (features `alloc` and `std` add `HeapRegion`, owned messages and a
//! hardware CRC32C). One [`Writer`] appends messages, each with a type, a subtype, a time and
//! a 64-bit id, into a [`Region`]: a header and a slot table (the *stat* part) and a
//! circular message buffer. Any number of [`Reader`]s, in any process that maps the region,
//! follow it. A reader that falls behind is overrun when the writer wraps and gets
//! [`ReadError::Lagged`] with the exact number of ids it missed.
//!
//! The protocol is a per-slot seqlock whose writer announces, before it reuses any buffer
//! bytes, which messages those bytes belonged to (it retires them: clears their stamps, then
//! `fence(Release)`); readers copy with atomic word loads and re-validate afterwards, then
//! check a CRC32C over payload and metadata. `docs/design.md` has the algorithm and the
//! numbered invariants, `docs/memory-ordering.md` one row per atomic field, and
//! `docs/file-format.md` every byte.
//!
//! ```
//! use fmq_core::{Config, HeapRegion, Layout, Reader, ReaderConfig, StartAt, Writer};
//!
//! let config = Config { slots_count: 8, buf_size_bytes: 1024, ..Config::default() };
//! let region = HeapRegion::new(&Layout::from_config(&config).unwrap());
//! let mut writer = Writer::format(&region, &config).unwrap();
//! let mut reader =
//!     Reader::attach(&region, ReaderConfig { start: StartAt::Oldest, ..Default::default() })
//!         .unwrap();
//! let id = writer.write(1, 0, 0, b"hello").unwrap();
//! let mut buf = [0u8; 64];
//! let meta = reader.try_read(&mut buf).unwrap();
//! assert_eq!((meta.id, &buf[..meta.len]), (id, &b"hello"[..]));
//! ```
//!
//! fmq-core has no `unsafe` code: regions are slices of atomics, and turning mapped bytes
//! into such slices is the job of the crate that maps them.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

// The layers, bottom up: `sync` (atomics), `region` (the trait), the format (`header`,
// `slot`, `crc`, `payload`), `layout` (geometry, header validation), `view` (a region checked
// against a layout), then the protocol (`registry`, `writer`, `reader`, `wake`) and the
// tools' `inspect`. No module uses one above it.

#[doc(hidden)]
pub mod crc;
mod error;
#[doc(hidden)]
pub mod header;
#[cfg(feature = "alloc")]
mod heap;
pub mod inspect;
mod layout;
mod message;
mod payload;
mod reader;
mod region;
#[doc(hidden)]
pub mod registry;
#[doc(hidden)]
pub mod slot;
#[doc(hidden)]
pub mod sync;
mod view;
#[doc(hidden)]
pub mod wake;
mod writer;

pub use error::{
    AttachError, ConfigError, CorruptReason, FormatError, Part, ReadError, RecoverError,
    RegisterError, WriteError,
};
pub use header::{Header, FORMAT_VERSION, QUEUE_FLAG_BLOCKING};
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub use heap::HeapRegion;
pub use layout::{
    Attached, Config, Layout, DEFAULT_BUF_SIZE_BYTES, DEFAULT_SLOTS_COUNT, MAX_BUF_SIZE_BYTES,
    MAX_READERS, MAX_SLOTS_COUNT, MIN_BUF_SIZE_BYTES, READER_RECORD_SIZE_BYTES,
};
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub use message::Message;
pub use message::{MessageId, MessageMeta, NewMessage, MAX_MESSAGE_ID};
pub use payload::Payload;
pub use reader::{LagPolicy, Reader, ReaderConfig, StartAt};
pub use region::Region;
pub use registry::ReaderRecord;
pub use slot::{Slot, MSG_FLAG_COMPRESSED};
pub use writer::{FlushStep, RecoveryReport, Writer};

// Invariant 1: the writer moves between threads but is never shared or cloned.
#[cfg(all(feature = "alloc", not(any(fmq_loom, fmq_shuttle))))]
static_assertions::assert_impl_all!(Writer<HeapRegion>: Send);
#[cfg(all(feature = "alloc", not(any(fmq_loom, fmq_shuttle))))]
static_assertions::assert_not_impl_any!(Writer<HeapRegion>: Sync, Clone);
#[cfg(all(feature = "alloc", not(any(fmq_loom, fmq_shuttle))))]
static_assertions::assert_impl_all!(Reader<alloc::sync::Arc<HeapRegion>>: Send);
