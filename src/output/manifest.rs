//! The root's manifest, `netspectra-root.json`: what a root holds, so that
//! runs which would not add up are refused before their first packet.
//!
//! It records the window interval, every task's definition (kind, key
//! fields, `max_keys`) and every run that wrote into the root with its
//! inputs. A run is admitted when its interval is the root's and every task
//! it shares with the root is defined the same way; new tasks are added.
//! Admission holds an exclusive `flock` on `.netspectra.lock`, so runs
//! started at the same time update the manifest one after the other, and
//! the manifest is replaced by rename, so a reader sees the old or the new
//! one, never half of one.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::OutputError;
use super::run::{RunId, task_definition};
use crate::flow::TaskSpec;

/// The manifest's file name in the root.
pub const MANIFEST_FILE: &str = "netspectra-root.json";
const LOCK_FILE: &str = ".netspectra.lock";
const FORMAT: u32 = 1;

/// The manifest as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// Window length, e.g. `1m`, as humantime writes it.
    pub snapshot_interval: String,
    pub interval_ns: u64,
    /// Task name -> definition line (kind, key fields, max_keys).
    pub tasks: BTreeMap<String, String>,
    /// Run identity (hex) -> what it read.
    pub runs: BTreeMap<String, RunRecord>,
}

/// One run that wrote into the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    /// `offline` or `live`.
    pub mode: String,
    /// Offline: each input as given and its fingerprint (hex). Live: the interface.
    pub inputs: Vec<InputRecord>,
}

/// One input of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputRecord {
    pub path: String,
    pub fingerprint: String,
}

/// What the run asks of the root.
pub struct Admission<'a> {
    pub interval: Duration,
    pub tasks: &'a [TaskSpec],
    pub run: RunId,
    pub record: RunRecord,
}

/// Why a run was refused; both values are named.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "{}: this root holds {root} windows, but this run cuts {run} windows; give --snapshot-interval {root} or another output root",
        .path.display()
    )]
    Interval {
        path: PathBuf,
        root: String,
        run: String,
    },
    #[error(
        "{}: task {task:?} is defined differently in this root ({root}) than in this run ({run}); rename the task or use another output root",
        .path.display()
    )]
    Task {
        path: PathBuf,
        task: String,
        root: String,
        run: String,
    },
    #[error("{}: not a netspectra root manifest", .path.display())]
    Unreadable {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// Admits a run into `root` (which must exist): checks it against the
/// manifest, records it, and returns warnings for the log (an input that
/// an earlier run read under the same path with other content).
pub fn admit(root: &Path, admission: &Admission<'_>) -> Result<Vec<String>, ManifestError> {
    let _lock = lock(root)?;
    let path = root.join(MANIFEST_FILE);
    let mut manifest = match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<Manifest>(&bytes).map_err(|source| {
            ManifestError::Unreadable {
                path: path.clone(),
                source,
            }
        })?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Manifest {
            format: FORMAT,
            snapshot_interval: humantime::format_duration(admission.interval).to_string(),
            interval_ns: duration_ns(admission.interval),
            tasks: BTreeMap::new(),
            runs: BTreeMap::new(),
        },
        Err(error) => return Err(OutputError::io(&path, "read file")(error).into()),
    };
    check(&path, &manifest, admission)?;
    let warnings = changed_inputs(&manifest, admission);
    for task in admission.tasks {
        manifest
            .tasks
            .entry(task.name.clone())
            .or_insert_with(|| task_definition(task));
    }
    manifest
        .runs
        .insert(admission.run.to_string(), admission.record.clone());
    let mut json = serde_json::to_vec_pretty(&manifest).expect("a manifest of strings serialises");
    json.push(b'\n');
    let temp = root.join(format!(".{MANIFEST_FILE}.tmp-{}", std::process::id()));
    super::write_synced(&temp, &json)?;
    fs::rename(&temp, &path).map_err(OutputError::io(&temp, "rename into place"))?;
    Ok(warnings)
}

fn check(path: &Path, manifest: &Manifest, admission: &Admission<'_>) -> Result<(), ManifestError> {
    if manifest.interval_ns != duration_ns(admission.interval) {
        return Err(ManifestError::Interval {
            path: path.to_path_buf(),
            root: manifest.snapshot_interval.clone(),
            run: humantime::format_duration(admission.interval).to_string(),
        });
    }
    for task in admission.tasks {
        let wanted = task_definition(task);
        if let Some(stored) = manifest.tasks.get(&task.name)
            && *stored != wanted
        {
            return Err(ManifestError::Task {
                path: path.to_path_buf(),
                task: task.name.clone(),
                root: stored.clone(),
                run: wanted,
            });
        }
    }
    Ok(())
}

/// Inputs this run shares by path with another run, but not by content.
fn changed_inputs(manifest: &Manifest, admission: &Admission<'_>) -> Vec<String> {
    let mut warnings = Vec::new();
    for input in &admission.record.inputs {
        for (run, record) in &manifest.runs {
            if *run == admission.run.to_string() {
                continue;
            }
            if let Some(earlier) = record.inputs.iter().find(|earlier| {
                earlier.path == input.path && earlier.fingerprint != input.fingerprint
            }) {
                warnings.push(format!(
                    "{}: run {run} read a file under this name with other content (fingerprint {}, now {}); \
                     its counts stay and this run's are added beside them. If it is the same capture grown \
                     or edited, start a new output root",
                    input.path, earlier.fingerprint, input.fingerprint
                ));
            }
        }
    }
    warnings
}

fn duration_ns(interval: Duration) -> u64 {
    u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX)
}

/// Holds the root's lock file exclusively until dropped.
struct RootLock(File);

fn lock(root: &Path) -> Result<RootLock, OutputError> {
    let path = root.join(LOCK_FILE);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(OutputError::io(&path, "open lock file"))?;
    // SAFETY: flock on a descriptor this function owns; no memory is involved.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(OutputError::io(&path, "lock")(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(RootLock(file))
}

impl Drop for RootLock {
    fn drop(&mut self) {
        // SAFETY: as in `lock`; closing the file would release it as well.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{KeyField, KeySchema, TaskKind};

    fn task(name: &str, fields: &[KeyField]) -> TaskSpec {
        TaskSpec {
            name: name.into(),
            kind: TaskKind::Exact,
            schema: KeySchema::from_fields(fields),
            max_keys: None,
        }
    }

    fn admission<'a>(
        interval: u64,
        tasks: &'a [TaskSpec],
        run: u64,
        input: (&str, &str),
    ) -> Admission<'a> {
        Admission {
            interval: Duration::from_secs(interval),
            tasks,
            run: RunId(run),
            record: RunRecord {
                mode: "offline".into(),
                inputs: vec![InputRecord {
                    path: input.0.into(),
                    fingerprint: input.1.into(),
                }],
            },
        }
    }

    #[test]
    fn a_root_takes_new_tasks_but_refuses_another_interval_or_definition() {
        let root = tempfile::tempdir().unwrap();
        let src = [task("t", &[KeyField::SrcIp])];
        assert!(
            admit(root.path(), &admission(60, &src, 1, ("a", "1")))
                .unwrap()
                .is_empty()
        );
        let more = [task("t", &[KeyField::SrcIp]), task("u", &[KeyField::DstIp])];
        admit(root.path(), &admission(60, &more, 2, ("b", "2"))).unwrap();
        let error = admit(root.path(), &admission(10, &src, 3, ("c", "3"))).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("this root holds 1m windows, but this run cuts 10s windows"),
            "{error}"
        );
        let redefined = [task("u", &[KeyField::SrcIp])];
        let error = admit(root.path(), &admission(60, &redefined, 4, ("d", "4"))).unwrap_err();
        assert!(
            error.to_string().contains(
                "task \"u\" is defined differently in this root (kind=exact key=DstIP max_keys=none) \
                 than in this run (kind=exact key=SrcIP max_keys=none)"
            ),
            "{error}"
        );
        let manifest: Manifest =
            serde_json::from_slice(&fs::read(root.path().join(MANIFEST_FILE)).unwrap()).unwrap();
        assert_eq!(manifest.tasks.len(), 2);
        assert_eq!(manifest.runs.len(), 2);
    }

    #[test]
    fn a_changed_file_under_a_known_name_is_warned_about() {
        let root = tempfile::tempdir().unwrap();
        let tasks = [task("t", &[KeyField::SrcIp])];
        admit(root.path(), &admission(60, &tasks, 1, ("cap.pcap", "aa"))).unwrap();
        assert!(
            admit(root.path(), &admission(60, &tasks, 1, ("cap.pcap", "aa")))
                .unwrap()
                .is_empty()
        );
        let warnings = admit(root.path(), &admission(60, &tasks, 2, ("cap.pcap", "bb"))).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("other content"), "{warnings:?}");
    }
}
