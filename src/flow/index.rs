//! The index of a [`FlowMap`](super::FlowMap): record numbers found by key
//! hash, in an open-addressing table whose slot for a hash is known before
//! anything is loaded.
//!
//! Each slot is one `u64`: the low 32 bits of the key's hash above the
//! record number plus one (zero marks an empty slot). A hash's home slot is
//! its low bits; collisions probe the next slots in turn. Because the home
//! slot is plain arithmetic, a caller counting a group of packets can ask
//! the CPU for every packet's slot first ([`KeyIndex::prefetch_slot`]), then
//! for every packet's record ([`KeyIndex::candidate`]), and only then
//! compare keys: the group's memory waits overlap instead of queueing. The
//! stored hash bits also let the table grow without reading a record.
//!
//! Keys are never removed (a window's map is taken whole), so probing needs
//! no tombstones. The table holds at most three slots in four, 8 bytes per
//! slot: 11 to 21 bytes per key.

/// Slots of a table's first allocation.
const FIRST_SLOTS: usize = 16;

/// Record numbers by key hash; see the module documentation.
#[derive(Debug, Default, Clone)]
pub struct KeyIndex {
    /// A power of two in length, or empty before the first key.
    slots: Box<[u64]>,
    /// Occupied slots.
    len: usize,
}

impl KeyIndex {
    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Slots allocated (for tests that check a table did not grow).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Asks the CPU to load the home slot of `hash`; loads nothing itself.
    #[inline]
    pub fn prefetch_slot(&self, hash: u64) {
        if let Some(slot) = self.slots.get(self.home(hash)) {
            super::map::prefetch(slot);
        }
    }

    /// The first record number whose stored hash bits match `hash`: the
    /// record to prefetch before its key is compared. Usually the key's own
    /// record; `None` when no slot matches.
    #[inline]
    pub fn candidate(&self, hash: u64) -> Option<u32> {
        self.probe(hash, |_| true).ok()
    }

    /// The record number of the key `is_key` recognises, among the slots
    /// whose stored hash bits match `hash`.
    #[inline]
    pub fn find(&self, hash: u64, is_key: impl Fn(u32) -> bool) -> Option<u32> {
        self.probe(hash, is_key).ok()
    }

    /// Indexes `number` as the record of a key of hash `hash`, which must
    /// not be indexed yet (the caller has just failed to [`KeyIndex::find`] it).
    #[inline]
    pub fn insert(&mut self, hash: u64, number: u32) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        if let Err(empty) = self.probe(hash, |_| false) {
            self.slots[empty] = slot_of(hash, number);
            self.len += 1;
        }
    }

    /// The matching record number, or the empty slot where the probe ended
    /// (`usize::MAX` for a table with no slot).
    #[inline]
    fn probe(&self, hash: u64, is_key: impl Fn(u32) -> bool) -> Result<u32, usize> {
        if self.slots.is_empty() {
            return Err(usize::MAX);
        }
        let mask = self.slots.len() - 1;
        let bits = hash as u32;
        let mut position = self.home(hash);
        loop {
            let slot = self.slots[position];
            if slot == 0 {
                return Err(position);
            }
            let number = (slot as u32).wrapping_sub(1);
            if (slot >> 32) as u32 == bits && is_key(number) {
                return Ok(number);
            }
            position = (position + 1) & mask;
        }
    }

    /// The slot a probe for `hash` starts at: from the 32 hash bits a slot
    /// stores, so that [`KeyIndex::grow`] finds the same home from them.
    #[inline]
    fn home(&self, hash: u64) -> usize {
        (hash & 0xFFFF_FFFF) as usize & self.slots.len().wrapping_sub(1)
    }

    /// Doubles the table (or makes the first one) and puts every slot at
    /// its new home, from the hash bits it stores.
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(FIRST_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![0; size].into_boxed_slice());
        let mask = size - 1;
        for slot in old.iter().copied().filter(|&slot| slot != 0) {
            let mut position = (slot >> 32) as usize & mask;
            while self.slots[position] != 0 {
                position = (position + 1) & mask;
            }
            self.slots[position] = slot;
        }
    }
}

/// A slot holding `number` for a key of hash `hash`: never zero.
#[inline]
fn slot_of(hash: u64, number: u32) -> u64 {
    (hash & 0xFFFF_FFFF) << 32 | u64::from(number.wrapping_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hash whose low 32 bits (home slot and stored bits) are shared by
    /// every 100th `n`: a hundred keys per stored value.
    fn crowded(n: u32) -> u64 {
        u64::from(n) << 32 | u64::from(n % 100)
    }

    #[test]
    fn keys_are_found_again_after_many_collisions_and_growths() {
        let mut index = KeyIndex::default();
        for n in 0..5_000u32 {
            assert_eq!(index.find(crowded(n), |number| number == n), None);
            index.insert(crowded(n), n);
        }
        assert_eq!(index.len(), 5_000);
        assert!(index.capacity() * 3 >= index.len() * 4);
        for n in 0..5_000u32 {
            assert_eq!(index.find(crowded(n), |number| number == n), Some(n));
            let candidate = index.candidate(crowded(n)).expect("a slot matches");
            assert_eq!(candidate % 100, n % 100, "same stored bits");
        }
        assert_eq!(index.len(), 5_000);
    }

    #[test]
    fn a_key_is_told_apart_from_others_with_the_same_hash() {
        let mut index = KeyIndex::default();
        let hash = crowded(3);
        index.insert(hash, 0);
        index.insert(hash, 1);
        assert_eq!(index.find(hash, |number| number == 0), Some(0));
        assert_eq!(index.find(hash, |number| number == 1), Some(1));
        assert_eq!(index.find(hash, |number| number == 2), None);
        assert_eq!(index.candidate(hash), Some(0));
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn an_empty_index_finds_nothing_and_prefetching_it_changes_nothing() {
        let index = KeyIndex::default();
        index.prefetch_slot(42);
        assert_eq!(index.candidate(42), None);
        assert_eq!(index.find(42, |_| true), None);
        assert_eq!(index.len(), 0);
    }
}
