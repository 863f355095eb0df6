//! The parameters of the sketch task kinds, with the defaults that
//! Go2NetSpectra's later releases use when a value is 0 or left out.
//!
//! These are plain values: the config layer fills them from a task entry,
//! the aggregators size their tables from them, and the manifest records
//! them as part of a task's definition (two runs only merge sketches built
//! with the same parameters).

use std::fmt;

use crate::flow::KeySchema;

/// Seed of every sketch hash unless a task sets `seed`: a fixed default,
/// so the same input gives the same state on every run and every probe.
pub const DEFAULT_SEED: u64 = 0x6e65_7473_7065_6374;

/// Heavy hitters (`skt_type: 0`): Count-Min sketches of packets and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeavyHitterParams {
    /// Counters per row; ε = e / width.
    pub width: u32,
    /// Rows, each with its own hash; δ = e^-depth.
    pub depth: u32,
    /// A key is reported when its estimated packets reach this...
    pub packet_threshold: u64,
    /// ...or its estimated bytes reach this.
    pub byte_threshold: u64,
    pub seed: u64,
}

/// Super-spreaders (`skt_type: 1`): distinct elements per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpreadParams {
    /// What is counted distinct per key, e.g. `DstIP` per `SrcIP`.
    pub element: KeySchema,
    /// Buckets per row.
    pub width: u32,
    /// Rows, each with its own hash.
    pub depth: u32,
    /// HyperLogLog registers per bucket, a power of two; relative standard
    /// error about 1.04 / sqrt(registers).
    pub registers: u32,
    /// A key is reported when its estimated spread reaches this.
    pub threshold: u64,
    pub seed: u64,
}

/// Go2NetSpectra's defaults for a heavy-hitter task.
pub const HEAVY_DEFAULT_WIDTH: u32 = 1 << 20;
pub const HEAVY_DEFAULT_DEPTH: u32 = 3;
pub const HEAVY_DEFAULT_BYTE_THRESHOLD: u64 = 524_288;
pub const HEAVY_DEFAULT_PACKET_THRESHOLD: u64 = 512;
/// Go2NetSpectra's defaults for a super-spreader task (threshold and
/// registers); the table size is netspectra's own.
pub const SPREAD_DEFAULT_THRESHOLD: u64 = 4096;
pub const SPREAD_DEFAULT_REGISTERS: u32 = 128;
pub const SPREAD_DEFAULT_WIDTH: u32 = 4096;
pub const SPREAD_DEFAULT_DEPTH: u32 = 2;

/// Bounds a config value must respect (checked by the config layer, which
/// names the key).
pub const MAX_WIDTH: u32 = 1 << 24;
pub const MAX_DEPTH: u32 = 16;
pub const MIN_REGISTERS: u32 = 16;
pub const MAX_REGISTERS: u32 = 1 << 16;
/// The most memory one sketch task may take ([`HeavyHitterParams::sketch_bytes`],
/// [`SpreadParams::sketch_bytes`]): 4 GiB.
pub const MAX_SKETCH_BYTES: u64 = 4 << 30;

impl HeavyHitterParams {
    /// Bytes of sketch state: two `depth` × `width` tables of u64 counters
    /// (the candidate list is bounded separately, see `heavy`).
    pub fn sketch_bytes(&self) -> u64 {
        2 * u64::from(self.width) * u64::from(self.depth) * 8
    }

    /// ε: an estimate exceeds the truth by at most ε·N with probability 1 − δ.
    pub fn epsilon(&self) -> f64 {
        std::f64::consts::E / f64::from(self.width)
    }

    /// δ = e^-depth.
    pub fn delta(&self) -> f64 {
        (-f64::from(self.depth)).exp()
    }
}

impl SpreadParams {
    /// Bytes of sketch state: per bucket, its registers, its candidate key
    /// (40 bytes) and the candidate's level (1 byte).
    pub fn sketch_bytes(&self) -> u64 {
        u64::from(self.width) * u64::from(self.depth) * (u64::from(self.registers) + 41)
    }

    /// The relative standard error of one bucket's estimate: 1.04 / sqrt(m).
    pub fn relative_error(&self) -> f64 {
        1.04 / f64::from(self.registers).sqrt()
    }
}

impl fmt::Display for HeavyHitterParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "width={} depth={} count_threshold={} size_threshold={} seed={:#x}",
            self.width, self.depth, self.packet_threshold, self.byte_threshold, self.seed
        )
    }
}

impl fmt::Display for SpreadParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let element: Vec<&str> = self.element.fields().map(|f| f.config_name()).collect();
        write!(
            f,
            "element={} width={} depth={} m={} count_threshold={} seed={:#x}",
            element.join(","),
            self.width,
            self.depth,
            self.registers,
            self.threshold,
            self.seed
        )
    }
}
