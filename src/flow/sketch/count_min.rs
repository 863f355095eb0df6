//! A Count-Min sketch of packets and bytes with conservative update.
//!
//! `depth` rows of `width` cells; each cell holds a packet counter and a
//! byte counter side by side, so one packet touches one cache line per row.
//! A key's estimate is the smallest of its cells. Conservative update
//! raises only the cells below the new estimate, so an estimate never falls
//! below the truth and exceeds it by at most ε·N (ε = e/width) with
//! probability at least 1 − e^-depth, N being the total counted.
//!
//! Merging adds cells: the result never underestimates and keeps the ε·N
//! bound of the combined total, but it can be larger than one sketch that
//! saw both streams (conservative update is not linear).

use super::hash::row_index;

/// The counters: `cells[row * width + column] = [packets, bytes]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountMin {
    width: u32,
    depth: u32,
    cells: Vec<[u64; 2]>,
}

/// Estimated packets and bytes of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Estimate {
    pub packets: u64,
    pub bytes: u64,
}

impl CountMin {
    /// All cells zero. The allocation is zeroed lazily by the kernel, so an
    /// idle wide sketch costs little resident memory.
    pub fn new(width: u32, depth: u32) -> CountMin {
        CountMin {
            width,
            depth,
            cells: vec![[0, 0]; width as usize * depth as usize],
        }
    }

    /// Rebuilds a sketch from stored cells; `None` unless there are
    /// exactly `width * depth` of them.
    pub fn from_cells(width: u32, depth: u32, cells: Vec<[u64; 2]>) -> Option<CountMin> {
        (cells.len() == width as usize * depth as usize).then_some(CountMin {
            width,
            depth,
            cells,
        })
    }

    pub fn cells(&self) -> &[[u64; 2]] {
        &self.cells
    }

    /// Counts one packet of `wire_len` bytes for the key hashing to
    /// `hash`, and returns the key's estimates afterwards.
    #[inline]
    pub fn add(&mut self, hash: u64, wire_len: u32) -> Estimate {
        let mut slots = [0usize; super::MAX_DEPTH as usize];
        let slots = &mut slots[..self.depth as usize];
        let mut current = [u64::MAX; 2];
        for (row, slot) in slots.iter_mut().enumerate() {
            *slot = row * self.width as usize + row_index(hash, row as u32, self.width);
            let cell = self.cells[*slot];
            current = [current[0].min(cell[0]), current[1].min(cell[1])];
        }
        let raised = [
            current[0].saturating_add(1),
            current[1].saturating_add(u64::from(wire_len)),
        ];
        for &slot in slots.iter() {
            let cell = &mut self.cells[slot];
            cell[0] = cell[0].max(raised[0]);
            cell[1] = cell[1].max(raised[1]);
        }
        Estimate {
            packets: raised[0],
            bytes: raised[1],
        }
    }

    /// The estimates of the key hashing to `hash`.
    pub fn estimate(&self, hash: u64) -> Estimate {
        let mut least = [u64::MAX; 2];
        for row in 0..self.depth {
            let slot = row as usize * self.width as usize + row_index(hash, row, self.width);
            let cell = self.cells[slot];
            least = [least[0].min(cell[0]), least[1].min(cell[1])];
        }
        Estimate {
            packets: least[0],
            bytes: least[1],
        }
    }

    /// Adds `other`'s cells to these; `None` (and this sketch partly
    /// changed) when the shapes differ or a cell overflows.
    pub fn merge(&mut self, other: &CountMin) -> Option<()> {
        if (self.width, self.depth) != (other.width, other.depth) {
            return None;
        }
        for (ours, theirs) in self.cells.iter_mut().zip(&other.cells) {
            ours[0] = ours[0].checked_add(theirs[0])?;
            ours[1] = ours[1].checked_add(theirs[1])?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::sketch::hash::mix;

    #[test]
    fn estimates_never_fall_below_the_truth_and_stay_within_the_bound() {
        let (width, depth) = (256, 3);
        let mut sketch = CountMin::new(width, depth);
        let mut truth = vec![0u64; 2000];
        let mut total = 0u64;
        for step in 0..100_000u64 {
            // Skewed: key k gets about 1/(k+1) of the packets.
            let key = (mix(step) % 2000).min(mix(step ^ 1) % 2000);
            truth[key as usize] += 1;
            total += 1;
            sketch.add(mix(key + 1), 100);
        }
        let bound = std::f64::consts::E / f64::from(width) * total as f64;
        let mut beyond = 0;
        for (key, &count) in truth.iter().enumerate() {
            let estimate = sketch.estimate(mix(key as u64 + 1));
            assert!(estimate.packets >= count);
            assert!(estimate.bytes >= count * 100);
            if (estimate.packets - count) as f64 > bound {
                beyond += 1;
            }
        }
        // δ = e^-3 ≈ 5%; allow twice that before calling it broken.
        assert!(beyond <= truth.len() / 10, "{beyond} keys beyond ε·N");
    }

    #[test]
    fn merging_adds_cells_and_keeps_estimates_above_the_truth() {
        let mut a = CountMin::new(64, 2);
        let mut b = CountMin::new(64, 2);
        for key in 0..500u64 {
            a.add(mix(key), 10);
            b.add(mix(key), 20);
        }
        let sum: Vec<[u64; 2]> = a
            .cells()
            .iter()
            .zip(b.cells())
            .map(|(x, y)| [x[0] + y[0], x[1] + y[1]])
            .collect();
        a.merge(&b).unwrap();
        assert_eq!(a.cells(), &sum[..]);
        for key in 0..500u64 {
            let estimate = a.estimate(mix(key));
            assert!(estimate.packets >= 2 && estimate.bytes >= 30);
        }
        assert!(a.merge(&CountMin::new(32, 2)).is_none());
    }
}
