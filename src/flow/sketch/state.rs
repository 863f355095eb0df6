//! The stored form of a sketch part (`sketch_<i>.bin`), so that windows,
//! runs and probes can be merged after the fact. The layout is specified in
//! docs/sketch-format.md; decoding checks every length and value against
//! the parameters in the header and never panics on any bytes.
//!
//! Counters and registers are written as a token stream that collapses
//! runs of zeros, so a wide sketch over a quiet window stays small.

use ahash::AHashSet;

use super::count_min::CountMin;
use super::heavy::HeavyHitterPart;
use super::spread::{SpreadSketch, SuperSpreadPart};
use super::{
    HeavyHitterParams, MAX_DEPTH, MAX_REGISTERS, MAX_SKETCH_BYTES, MAX_WIDTH, MIN_REGISTERS,
    SpreadParams,
};
use crate::flow::aggregator::{Part, PartTotals};
use crate::flow::{AddressFamily, FlowKey, KeySchema};

/// First bytes of every state file.
pub const MAGIC: &[u8; 8] = b"NSSKETCH";
pub const VERSION: u16 = 1;
const HEAVY_HITTERS: u8 = 1;
const SUPER_SPREAD: u8 = 2;
/// Bytes of one stored key.
const KEY_BYTES: usize = 38;

/// Why stored bytes are not a sketch state; `offset` is where reading stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte offset {offset}: {reason}")]
pub struct StateError {
    pub offset: usize,
    pub reason: String,
}

pub(super) fn encode_heavy(part: &HeavyHitterPart) -> Vec<u8> {
    let params = part.params;
    let mut out = header(
        HEAVY_HITTERS,
        part.schema,
        part.totals,
        params.seed,
        params.width,
        params.depth,
    );
    out.extend_from_slice(&params.packet_threshold.to_le_bytes());
    out.extend_from_slice(&params.byte_threshold.to_le_bytes());
    out.extend_from_slice(&part.candidates_refused.to_le_bytes());
    put_tokens(
        &mut out,
        part.sketch
            .cells()
            .iter()
            .flat_map(|cell| cell.iter().copied()),
    );
    let mut candidates: Vec<&FlowKey> = part.candidates.iter().collect();
    candidates.sort_unstable();
    out.extend_from_slice(&(candidates.len() as u32).to_le_bytes());
    for key in candidates {
        put_key(&mut out, key);
    }
    out
}

pub(super) fn encode_spread(part: &SuperSpreadPart) -> Vec<u8> {
    let params = part.params();
    let sketch = &part.sketch;
    let mut out = header(
        SUPER_SPREAD,
        part.schema,
        part.totals,
        params.seed,
        params.width,
        params.depth,
    );
    out.push(params.element.bits());
    out.extend_from_slice(&params.registers.to_le_bytes());
    out.extend_from_slice(&params.threshold.to_le_bytes());
    put_tokens(
        &mut out,
        sketch.registers().iter().map(|&rank| u64::from(rank)),
    );
    put_tokens(
        &mut out,
        sketch.levels().iter().map(|&level| u64::from(level)),
    );
    for (bucket, key) in sketch.candidates().iter().enumerate() {
        if sketch.levels()[bucket] > 0 {
            put_key(&mut out, key);
        }
    }
    out
}

/// The header shared by both kinds.
fn header(
    kind: u8,
    schema: KeySchema,
    totals: PartTotals,
    seed: u64,
    width: u32,
    depth: u32,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.push(kind);
    out.push(schema.bits());
    out.extend_from_slice(&seed.to_le_bytes());
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&depth.to_le_bytes());
    out.extend_from_slice(&totals.packets.to_le_bytes());
    out.extend_from_slice(&totals.bytes.to_le_bytes());
    out
}

/// Tokens: an odd token `2v + 1` is the value `v > 0`; an even token `2r`
/// is a run of `r + 1` zeros. Each token is a LEB128 varint.
fn put_tokens(out: &mut Vec<u8>, values: impl Iterator<Item = u64>) {
    let mut zeros: u64 = 0;
    for value in values {
        if value == 0 {
            zeros += 1;
            continue;
        }
        if zeros > 0 {
            put_varint(out, (zeros - 1) << 1);
            zeros = 0;
        }
        // Values stay below 2^63: counters of one run's packets and bytes.
        put_varint(out, value << 1 | 1);
    }
    if zeros > 0 {
        put_varint(out, (zeros - 1) << 1);
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_key(out: &mut Vec<u8>, key: &FlowKey) {
    out.push(key.family as u8);
    out.extend_from_slice(&key.src);
    out.extend_from_slice(&key.dst);
    out.extend_from_slice(&key.src_port.to_le_bytes());
    out.extend_from_slice(&key.dst_port.to_le_bytes());
    out.push(key.protocol);
}

/// A decoded state: the task's key fields and the part.
#[derive(Debug)]
pub struct Decoded {
    pub schema: KeySchema,
    pub part: Box<dyn Part>,
}

/// Decodes a state file's bytes.
pub fn decode(bytes: &[u8]) -> Result<Decoded, StateError> {
    let mut reader = Reader { bytes, at: 0 };
    if reader.take(MAGIC.len())? != MAGIC {
        return Err(reader.fail("not a netspectra sketch state (bad magic)"));
    }
    let version = reader.u16()?;
    if version != VERSION {
        return Err(reader.fail(format!(
            "state version {version}, this build reads {VERSION}"
        )));
    }
    let kind = reader.u8()?;
    let schema_bits = reader.u8()?;
    let schema = KeySchema::from_bits(schema_bits)
        .ok_or_else(|| reader.fail(format!("bad key field set {schema_bits:#x}")))?;
    let seed = reader.u64()?;
    let width = reader.u32()?;
    let depth = reader.u32()?;
    if !(1..=MAX_WIDTH).contains(&width) || !(1..=MAX_DEPTH).contains(&depth) {
        return Err(reader.fail(format!("width {width} or depth {depth} out of range")));
    }
    let totals = PartTotals {
        records: 0,
        packets: reader.u64()?,
        bytes: reader.u64()?,
    };
    let buckets = width as usize * depth as usize;
    let part: Box<dyn Part> = match kind {
        HEAVY_HITTERS => {
            let params = HeavyHitterParams {
                width,
                depth,
                packet_threshold: reader.u64()?,
                byte_threshold: reader.u64()?,
                seed,
            };
            let candidates_refused = reader.u64()?;
            if params.sketch_bytes() > MAX_SKETCH_BYTES {
                return Err(reader.fail(format!("a sketch of {params} is over the size limit")));
            }
            let values: Vec<u64> = reader.tokens(2 * buckets)?;
            let cells = values
                .chunks_exact(2)
                .map(|pair| [pair[0], pair[1]])
                .collect();
            let sketch = CountMin::from_cells(width, depth, cells)
                .ok_or_else(|| reader.fail("cell count does not match width and depth"))?;
            let count = reader.u32()? as usize;
            let mut candidates = AHashSet::with_capacity(count.min(super::heavy::MAX_CANDIDATES));
            for _ in 0..count {
                candidates.insert(reader.key()?);
            }
            let mut part = HeavyHitterPart {
                schema,
                params,
                sketch,
                candidates,
                candidates_refused,
                totals,
            };
            part.totals.records = part.estimates().len() as u64;
            Box::new(part)
        }
        SUPER_SPREAD => {
            let element_bits = reader.u8()?;
            let element = KeySchema::from_bits(element_bits)
                .ok_or_else(|| reader.fail(format!("bad element field set {element_bits:#x}")))?;
            let registers = reader.u32()?;
            if !registers.is_power_of_two() || !(MIN_REGISTERS..=MAX_REGISTERS).contains(&registers)
            {
                return Err(reader.fail(format!("register count {registers} out of range")));
            }
            let params = SpreadParams {
                element,
                width,
                depth,
                registers,
                threshold: reader.u64()?,
                seed,
            };
            if params.sketch_bytes() > MAX_SKETCH_BYTES {
                return Err(reader.fail(format!("a sketch of {params} is over the size limit")));
            }
            let ranks: Vec<u8> = reader.tokens(buckets * registers as usize)?;
            let levels: Vec<u8> = reader.tokens(buckets)?;
            let mut keys = vec![FlowKey::default(); buckets];
            for (bucket, &level) in levels.iter().enumerate() {
                if level > 0 {
                    keys[bucket] = reader.key()?;
                }
            }
            let sketch = SpreadSketch::from_parts(params, ranks, levels, keys)
                .ok_or_else(|| reader.fail("a register or level is out of range"))?;
            let mut part = SuperSpreadPart {
                schema,
                sketch,
                totals,
            };
            part.totals.records = part.estimates().len() as u64;
            Box::new(part)
        }
        other => return Err(reader.fail(format!("unknown sketch kind {other}"))),
    };
    if reader.at != bytes.len() {
        return Err(reader.fail("bytes after the end of the state"));
    }
    Ok(Decoded { schema, part })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn fail(&self, reason: impl Into<String>) -> StateError {
        StateError {
            offset: self.at,
            reason: reason.into(),
        }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], StateError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| self.fail("truncated"))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StateError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, StateError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, StateError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, StateError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, StateError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn varint(&mut self) -> Result<u64, StateError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.fail("varint longer than 64 bits"))
    }

    /// Exactly `count` values from a token stream, each fitting a `T`.
    fn tokens<T: TryFrom<u64> + Copy + Default>(
        &mut self,
        count: usize,
    ) -> Result<Vec<T>, StateError> {
        let mut values = Vec::with_capacity(count.min(self.bytes.len()));
        while values.len() < count {
            let token = self.varint()?;
            if token & 1 == 1 {
                let value = T::try_from(token >> 1)
                    .map_err(|_| self.fail(format!("value {} out of range", token >> 1)))?;
                values.push(value);
            } else {
                let run = usize::try_from(token >> 1)
                    .ok()
                    .and_then(|run| run.checked_add(1))
                    .filter(|&run| run <= count - values.len())
                    .ok_or_else(|| self.fail("a run of zeros overruns the table"))?;
                values.resize(values.len() + run, T::default());
            }
        }
        Ok(values)
    }

    fn key(&mut self) -> Result<FlowKey, StateError> {
        let bytes = self.take(KEY_BYTES)?;
        let family = AddressFamily::from_byte(bytes[0])
            .ok_or_else(|| self.fail(format!("bad address family {}", bytes[0])))?;
        let mut key = FlowKey {
            family,
            ..FlowKey::default()
        };
        key.src.copy_from_slice(&bytes[1..17]);
        key.dst.copy_from_slice(&bytes[17..33]);
        key.src_port = u16::from_le_bytes([bytes[33], bytes[34]]);
        key.dst_port = u16::from_le_bytes([bytes[35], bytes[36]]);
        key.protocol = bytes[37];
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::flow::{Aggregator, KeyField, PacketRecord, TaskKind, TaskSpec, build_aggregator};
    use crate::flow::{Share, sketch::DEFAULT_SEED};

    fn packets() -> Vec<PacketRecord> {
        (0..5000u32)
            .map(|n| PacketRecord {
                key: FlowKey::ipv4(
                    Ipv4Addr::from(0x0a00_0000 + n % 7),
                    Ipv4Addr::from(0xc000_0200 + n),
                    1000 + (n % 3) as u16,
                    53,
                    17,
                ),
                timestamp_ns: u64::from(n),
                wire_len: 80,
            })
            .collect()
    }

    fn kinds() -> [TaskKind; 2] {
        [
            TaskKind::HeavyHitters(HeavyHitterParams {
                width: 512,
                depth: 3,
                packet_threshold: 100,
                byte_threshold: 1 << 20,
                seed: DEFAULT_SEED,
            }),
            TaskKind::SuperSpread(SpreadParams {
                element: KeySchema::from_fields(&[KeyField::DstIp]),
                width: 64,
                depth: 2,
                registers: 64,
                threshold: 100,
                seed: DEFAULT_SEED,
            }),
        ]
    }

    fn counted(kind: TaskKind) -> Box<dyn Part> {
        let spec = TaskSpec {
            name: "t".into(),
            kind,
            schema: KeySchema::from_fields(&[KeyField::SrcIp]),
            max_keys: None,
        };
        let mut aggregator: Box<dyn Aggregator> = build_aggregator(&spec, Share::whole(&spec));
        aggregator.count(&packets());
        aggregator.take_part()
    }

    #[test]
    fn a_state_decodes_to_a_part_with_the_same_report_and_state() {
        for kind in kinds() {
            let part = counted(kind);
            assert_eq!(part.estimates().len(), 7, "{kind}");
            let state = part.sketch_state().unwrap();
            let decoded = decode(&state).unwrap();
            assert_eq!(decoded.schema, KeySchema::from_fields(&[KeyField::SrcIp]));
            assert_eq!(decoded.part.kind(), part.kind());
            assert_eq!(decoded.part.totals(), part.totals());
            assert_eq!(decoded.part.estimates(), part.estimates());
            assert_eq!(decoded.part.sketch_state().unwrap(), state);
        }
    }

    #[test]
    fn damaged_states_are_errors_with_an_offset_never_panics() {
        for kind in kinds() {
            let state = counted(kind).sketch_state().unwrap();
            for cut in [0, 7, 12, 40, state.len() / 2, state.len() - 1] {
                let error = decode(&state[..cut]).unwrap_err();
                assert!(error.offset <= cut, "{error}");
            }
            let mut longer = state.clone();
            longer.push(0);
            assert!(
                decode(&longer)
                    .unwrap_err()
                    .reason
                    .contains("after the end")
            );
            for at in (0..state.len()).step_by(state.len() / 97 + 1) {
                let mut flipped = state.clone();
                flipped[at] ^= 0x5a;
                let _ = decode(&flipped);
            }
        }
    }
}
