//! Run identity: the name of the part a run writes into each window.
//!
//! An offline run is named by what it counts: the window interval, every
//! task's definition, and each input's content fingerprint (its size and
//! the FNV-1a of its first and last MiB), in input order. Running the same
//! inputs with the same config again gives the same identity, so the rerun
//! replaces its own parts instead of adding to them; different inputs
//! (the next rotated file) give a different identity and add a part. The
//! path is not part of the identity: a copy of a capture is the same
//! capture, and a changed file under the same name is a different one. A
//! stream input (standard input, a FIFO) cannot be read twice, so its
//! fingerprint is unique to the process and moment: rerunning a stream adds
//! its parts instead of replacing them. A live run is named by its interface, process and start time: every
//! capture process adds its own parts.

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use super::dat::{FNV_OFFSET_BASIS, fnv1a64, fnv1a64_update};
use crate::flow::TaskSpec;

/// Bytes read from each end of a file for its fingerprint.
const FINGERPRINT_SPAN: u64 = 1 << 20;

/// The identity of one run; its parts are `run-<16 hex digits>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(pub u64);

impl RunId {
    /// The identity of an offline run over inputs with these fingerprints.
    pub fn offline(interval: Duration, tasks: &[TaskSpec], fingerprints: &[u64]) -> RunId {
        let mut text = format!("offline interval_ns={}\n", interval.as_nanos());
        for task in tasks {
            text.push_str(&format!("task {} {}\n", task.name, task_definition(task)));
        }
        for fingerprint in fingerprints {
            text.push_str(&format!("input {fingerprint:016x}\n"));
        }
        RunId(fnv1a64(text.as_bytes()))
    }

    /// The identity of a live run: unique to this process and moment.
    pub fn live(interface: &str, started_ns: u64) -> RunId {
        let text = format!(
            "live {interface} pid={} start={started_ns}",
            std::process::id()
        );
        RunId(fnv1a64(text.as_bytes()))
    }

    /// The part's directory name inside a window, `run-<16 hex digits>`.
    pub fn part_name(self) -> String {
        format!("run-{self}")
    }

    /// Reads a name made by [`RunId::part_name`]; `None` for anything else.
    pub fn parse_part_name(name: &str) -> Option<RunId> {
        let hex = name.strip_prefix("run-")?;
        if hex.len() != 16
            || !hex
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
        {
            return None;
        }
        u64::from_str_radix(hex, 16).ok().map(RunId)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// One task's definition (all but its name) as it enters an identity and
/// the manifest: `kind=exact key=SrcIP,DstIP max_keys=none` (a prefix is
/// spelled as in the config: `key=SrcIP/24,48,DstIP`).
pub fn task_definition(task: &TaskSpec) -> String {
    let fields: Vec<String> = task
        .schema
        .fields()
        .map(|field| task.schema.spelling(field))
        .collect();
    let max_keys = task
        .max_keys
        .map_or_else(|| "none".to_string(), |max| max.to_string());
    format!(
        "kind={} key={} max_keys={max_keys}",
        task.kind,
        fields.join(",")
    )
}

/// The fingerprint of a stream input (standard input, a FIFO), which
/// cannot be read twice for its content: unique to this process and
/// `now_ns`, so every run over a stream adds its own parts.
pub fn fingerprint_stream(now_ns: u64) -> u64 {
    fnv1a64(format!("stream pid={} at={now_ns}", std::process::id()).as_bytes())
}

/// A file's content fingerprint: its size and the FNV-1a of its first and
/// last [`FINGERPRINT_SPAN`] bytes.
pub fn fingerprint_file(path: &Path) -> std::io::Result<u64> {
    let mut file = File::open(path)?;
    let size = file.metadata()?.len();
    let hash = fnv1a64_update(FNV_OFFSET_BASIS, &size.to_le_bytes());
    let hash = hash_span(&mut file, hash)?;
    if size <= FINGERPRINT_SPAN {
        return Ok(hash);
    }
    file.seek(SeekFrom::Start(
        size.saturating_sub(FINGERPRINT_SPAN).max(FINGERPRINT_SPAN),
    ))?;
    hash_span(&mut file, hash)
}

/// Folds up to [`FINGERPRINT_SPAN`] bytes from the file's position into
/// `hash`, through a small buffer.
fn hash_span(file: &mut File, mut hash: u64) -> std::io::Result<u64> {
    let mut buffer = [0u8; 64 * 1024];
    let mut span = file.take(FINGERPRINT_SPAN);
    loop {
        let read = span.read(&mut buffer)?;
        if read == 0 {
            return Ok(hash);
        }
        hash = fnv1a64_update(hash, &buffer[..read]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{KeyField, KeySchema, TaskKind};

    fn task(name: &str, max_keys: Option<u64>) -> TaskSpec {
        TaskSpec {
            name: name.into(),
            kind: TaskKind::Exact,
            schema: KeySchema::from_fields(&[KeyField::SrcIp]),
            max_keys,
        }
    }

    #[test]
    fn the_same_inputs_and_config_give_the_same_identity_and_any_change_another() {
        let minute = Duration::from_secs(60);
        let base = RunId::offline(minute, &[task("a", None)], &[1, 2]);
        assert_eq!(base, RunId::offline(minute, &[task("a", None)], &[1, 2]));
        for other in [
            RunId::offline(Duration::from_secs(10), &[task("a", None)], &[1, 2]),
            RunId::offline(minute, &[task("b", None)], &[1, 2]),
            RunId::offline(minute, &[task("a", Some(5))], &[1, 2]),
            RunId::offline(minute, &[task("a", None)], &[2, 1]),
            RunId::offline(minute, &[task("a", None)], &[1]),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn part_names_round_trip_and_nothing_else_parses() {
        let id = RunId(0x00ab_cdef_0123_4567);
        assert_eq!(id.part_name(), "run-00abcdef01234567");
        assert_eq!(RunId::parse_part_name(&id.part_name()), Some(id));
        for bad in [
            "run-00ABCDEF01234567",
            "run-123",
            "run-00abcdef012345678",
            "x-00abcdef01234567",
        ] {
            assert_eq!(RunId::parse_part_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_fingerprint_sees_the_content_not_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        let big: Vec<u8> = (0..3_000_000u32).map(|n| n as u8).collect();
        std::fs::write(&a, &big).unwrap();
        std::fs::write(&b, &big).unwrap();
        let mut changed = big.clone();
        *changed.last_mut().unwrap() ^= 1;
        std::fs::write(&c, &changed).unwrap();
        let print = |path: &Path| fingerprint_file(path).unwrap();
        assert_eq!(print(&a), print(&b));
        assert_ne!(print(&a), print(&c));
    }
}
