//! The fast path's index: every owner's answers packed in one byte arena, found through an
//! open-addressing table, so a hit touches one slot and one contiguous stretch of memory.

use std::hash::BuildHasher;

use super::rtype;

/// The result of a lookup in the packed arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireLookup<'a> {
    /// The answer RRs (owners are pointers to the question) and how many there are, then
    /// the additional-section RRs sent with them when they fit (owners point into the
    /// answer, so they are only valid right after `wire`).
    Answer {
        wire: &'a [u8],
        count: u16,
        extra: &'a [u8],
        extra_count: u16,
    },
    NoData,
    NxDomain,
}

/// Open-addressing index over one byte arena. Each entry in the arena is
/// `[key len u8][key][rrset count u8]` then per RRset
/// `[type u16][count u16][len u16][wire][extra count u16][extra len u16][extra wire]`.
#[derive(Debug, Default)]
pub(super) struct Flat {
    /// (upper 32 bits of the hash, arena offset + 1); offset 0 marks an empty slot.
    slots: Box<[(u32, u32)]>,
    arena: Box<[u8]>,
    hasher: foldhash::fast::FixedState,
}

impl Flat {
    /// Indexes an arena whose entries start at `entries[i].0` with a key of `entries[i].1`
    /// bytes.
    pub(super) fn new(arena: Vec<u8>, entries: &[(usize, usize)]) -> Flat {
        let hasher = foldhash::fast::FixedState::with_seed(0x0f1a_7d05);
        let cap = (entries.len() * 2).next_power_of_two().max(16);
        let mut slots = vec![(0u32, 0u32); cap];
        for &(off, klen) in entries {
            let h = hasher.hash_one(&arena[off + 1..off + 1 + klen]);
            let mut i = (h as usize) & (cap - 1);
            while slots[i].1 != 0 {
                i = (i + 1) & (cap - 1);
            }
            slots[i] = ((h >> 32) as u32, off as u32 + 1);
        }
        Flat {
            slots: slots.into_boxed_slice(),
            arena: arena.into_boxed_slice(),
            hasher,
        }
    }

    /// The answer to `qtype` at the lower-case wire name `key`.
    #[inline]
    pub(super) fn lookup(&self, key: &[u8], qtype: u16) -> WireLookup<'_> {
        let mask = self.slots.len() - 1;
        let h = self.hasher.hash_one(key);
        let tag = (h >> 32) as u32;
        let mut i = (h as usize) & mask;
        loop {
            let (t, off) = self.slots[i];
            if off == 0 {
                return WireLookup::NxDomain;
            }
            if t == tag {
                let off = off as usize - 1;
                let klen = self.arena[off] as usize;
                if self.arena.get(off + 1..off + 1 + klen) == Some(key) {
                    return self.answer_at(off + 1 + klen, qtype);
                }
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    fn answer_at(&self, mut pos: usize, qtype: u16) -> WireLookup<'_> {
        let a = &self.arena;
        let n = a[pos];
        pos += 1;
        for _ in 0..n {
            let t = u16::from_be_bytes([a[pos], a[pos + 1]]);
            let count = u16::from_be_bytes([a[pos + 2], a[pos + 3]]);
            let len = u16::from_be_bytes([a[pos + 4], a[pos + 5]]) as usize;
            pos += 6;
            let wire = &a[pos..pos + len];
            pos += len;
            let extra_count = u16::from_be_bytes([a[pos], a[pos + 1]]);
            let xlen = u16::from_be_bytes([a[pos + 2], a[pos + 3]]) as usize;
            pos += 4;
            if t == qtype || qtype == rtype::ANY {
                return WireLookup::Answer {
                    wire,
                    count,
                    extra: &a[pos..pos + xlen],
                    extra_count,
                };
            }
            pos += xlen;
        }
        WireLookup::NoData
    }
}
