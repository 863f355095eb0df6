//! The sketches' hash functions: seeded, and the same on every machine and
//! every release, because stored sketch state is merged across runs and
//! probes (a hash that changes with the CPU or the crate version would
//! make the states of two probes incomparable). Defined word by word in
//! docs/sketch-format.md.

use crate::flow::FlowKey;

const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

/// The MurmurHash3 64-bit finaliser: every input bit affects every output bit.
#[inline]
pub fn mix(mut value: u64) -> u64 {
    value ^= value >> 33;
    value = value.wrapping_mul(0xff51_afd7_ed55_8ccd);
    value ^= value >> 33;
    value = value.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    value ^ (value >> 33)
}

/// A key as five little-endian words: source, destination, then ports,
/// protocol and address family packed into one.
#[inline]
fn words(key: &FlowKey) -> [u64; 5] {
    let half = |bytes: &[u8; 16], at: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(word)
    };
    [
        half(&key.src, 0),
        half(&key.src, 8),
        half(&key.dst, 0),
        half(&key.dst, 8),
        u64::from(key.src_port)
            | u64::from(key.dst_port) << 16
            | u64::from(key.protocol) << 32
            | u64::from(key.family as u8) << 40,
    ]
}

/// Folds `key`'s words into `state`.
#[inline]
fn absorb(mut state: u64, key: &FlowKey) -> u64 {
    for word in words(key) {
        state = (state ^ word).wrapping_mul(MULTIPLIER).rotate_left(31);
    }
    mix(state)
}

/// The hash of a key under `seed`.
#[inline]
pub fn key_hash(key: &FlowKey, seed: u64) -> u64 {
    absorb(mix(seed), key)
}

/// The hash of an element seen with a key, from the key's hash: the same
/// element under two keys hashes differently, so a bucket shared by two
/// keys counts their elements apart.
#[inline]
pub fn pair_hash(key_hash: u64, element: &FlowKey) -> u64 {
    absorb(key_hash ^ MULTIPLIER, element)
}

/// The position in `0..width` of a hash in row `row`: each row re-mixes the
/// hash with its own constant, so rows are independent of each other.
#[inline]
pub fn row_index(hash: u64, row: u32, width: u32) -> usize {
    let row_hash = mix(hash ^ u64::from(row + 1).wrapping_mul(MULTIPLIER));
    (((row_hash >> 32) * u64::from(width)) >> 32) as usize
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn key(last: u8) -> FlowKey {
        FlowKey::ipv4(
            Ipv4Addr::new(10, 0, 0, last),
            Ipv4Addr::UNSPECIFIED,
            0,
            0,
            0,
        )
    }

    #[test]
    fn hashes_are_pinned_so_stored_states_stay_comparable() {
        // Changing these values breaks every stored sketch: bump the state
        // format's version instead.
        let hash = key_hash(&key(1), 0);
        assert_eq!(
            (hash, pair_hash(hash, &key(2)), row_index(hash, 0, 1 << 20)),
            (0x64da_cab8_2ca5_8339, 0x5053_a218_12de_6b4d, 472_993)
        );
    }

    #[test]
    fn seeds_rows_and_keys_change_the_hash() {
        assert_ne!(key_hash(&key(1), 0), key_hash(&key(1), 1));
        assert_ne!(key_hash(&key(1), 0), key_hash(&key(2), 0));
        let hash = key_hash(&key(1), 0);
        let rows: Vec<usize> = (0..4).map(|row| row_index(hash, row, 1 << 30)).collect();
        assert!(rows.windows(2).all(|pair| pair[0] != pair[1]), "{rows:?}");
    }

    #[test]
    fn row_indexes_spread_evenly() {
        let width = 64;
        let mut counts = vec![0u32; width as usize];
        for last in 0..=255u8 {
            for port in 0..64u16 {
                let mut k = key(last);
                k.src_port = port;
                counts[row_index(key_hash(&k, 7), 0, width)] += 1;
            }
        }
        // 16384 keys into 64 cells: 256 expected each.
        assert!(
            counts.iter().all(|&count| (180..340).contains(&count)),
            "{counts:?}"
        );
    }
}
