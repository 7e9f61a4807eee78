//! CRC32C (Castagnoli) for message payloads and the header's layout checksum.
//!
//! Without `std`, the `crc` crate's slice-by-16 tables (no_std, no allocation). With `std`,
//! the `crc32c` crate, which uses the SSE 4.2 / ARMv8 CRC instructions when the CPU has them
//! (runtime detection) and the same polynomial otherwise; `tests/crc.rs` checks that both give
//! the same values. Under Miri the portable tables are used: the interpreter cannot run the
//! CPU-detection path.
//!
//! A message's checksum covers its stored payload followed by a 44-byte trailer of its
//! metadata ([`message_crc`]), so a corrupt type, time, length or a stale slot from another
//! message is caught as surely as a torn payload.

/// The portable implementation (also used on std targets under Miri, and by tests).
static CASTAGNOLI: crc::Crc<u32, crc::Table<16>> =
    crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);

/// A running CRC32C.
pub struct Crc32c {
    #[cfg(all(feature = "std", not(miri)))]
    state: u32,
    #[cfg(not(all(feature = "std", not(miri))))]
    digest: crc::Digest<'static, u32, crc::Table<16>>,
}

impl Default for Crc32c {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32c {
    /// Starts a new checksum.
    pub fn new() -> Self {
        Crc32c {
            #[cfg(all(feature = "std", not(miri)))]
            state: 0,
            #[cfg(not(all(feature = "std", not(miri))))]
            digest: CASTAGNOLI.digest(),
        }
    }

    /// Feeds bytes.
    #[inline]
    pub fn update(&mut self, bytes: &[u8]) {
        #[cfg(all(feature = "std", not(miri)))]
        {
            self.state = crc32c::crc32c_append(self.state, bytes);
        }
        #[cfg(not(all(feature = "std", not(miri))))]
        self.digest.update(bytes);
    }

    /// The checksum of everything fed so far.
    #[inline]
    pub fn finish(self) -> u32 {
        #[cfg(all(feature = "std", not(miri)))]
        {
            self.state
        }
        #[cfg(not(all(feature = "std", not(miri))))]
        self.digest.finalize()
    }
}

/// CRC32C of `bytes` with the portable tables, whatever the features: the reference the
/// accelerated path is tested against.
pub fn crc32c_portable(bytes: &[u8]) -> u32 {
    CASTAGNOLI.checksum(bytes)
}

/// CRC32C of `bytes`.
pub fn crc32c(bytes: &[u8]) -> u32 {
    let mut c = Crc32c::new();
    c.update(bytes);
    c.finish()
}

/// The metadata a message checksum covers after its payload, in this order, little-endian:
/// id (8), stored_len (8), raw_len (8), time_ns (8), msg_type (4), subtype (4), flags (4).
pub const TRAILER_SIZE_BYTES: usize = 44;

/// Builds the checksum trailer of a message.
pub fn trailer(
    id: u64,
    stored_len: u64,
    raw_len: u64,
    time_ns: i64,
    msg_type: i32,
    subtype: i32,
    flags: u32,
) -> [u8; TRAILER_SIZE_BYTES] {
    let mut t = [0u8; TRAILER_SIZE_BYTES];
    t[0..8].copy_from_slice(&id.to_le_bytes());
    t[8..16].copy_from_slice(&stored_len.to_le_bytes());
    t[16..24].copy_from_slice(&raw_len.to_le_bytes());
    t[24..32].copy_from_slice(&time_ns.to_le_bytes());
    t[32..36].copy_from_slice(&msg_type.to_le_bytes());
    t[36..40].copy_from_slice(&subtype.to_le_bytes());
    t[40..44].copy_from_slice(&flags.to_le_bytes());
    t
}

/// The checksum stored in a slot: CRC32C of the payload followed by the [`trailer`].
pub fn message_crc(payload: &[u8], trailer: &[u8; TRAILER_SIZE_BYTES]) -> u32 {
    let mut c = Crc32c::new();
    c.update(payload);
    c.update(trailer);
    c.finish()
}
