//! Output faults: a disk that fills up in the middle of a run, and a writer
//! killed with SIGKILL. What was written stays whole, what could not be
//! written is reported, and no half-written window is ever visible.

pub mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::capture_writer::{Endian, PcapWriter};
use support::cli::{analyze, inspect_json, netspectra};
use support::disk::{SmallDisk, assert_filled_part_way};
use support::skip::skip;
use support::store::{leftovers, part_dirs, window_dirs};
use support::traffic::{PacketSpec, Rng, ethernet_frame, mixed_packets, write_pcap};

const SECOND: u64 = 1_000_000_000;
const START: u64 = 1_757_412_000 * SECOND;

#[test]
fn a_disk_full_mid_run_keeps_written_windows_whole_and_lists_the_lost_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(disk) = SmallDisk::mount(&dir.path().join("disk"), "400k") else {
        skip("cannot mount a small tmpfs here (needs root)");
        return;
    };
    let capture = dir.path().join("spread.pcap");
    // 40 one-second windows of 50 packets.
    let mut specs = mixed_packets(2_000, START, SECOND / 50, 21);
    write_pcap(&capture, &mut specs);
    let out = disk.0.join("out");
    let run = analyze(&[&capture], &out, &["--snapshot-interval", "1s"]);

    let written = assert_filled_part_way(&run, 40);
    // Every visible window is complete: inspect checks each shard file against its summary.
    assert_eq!(window_dirs(&out).len() as u64, written);
    let lines = inspect_json(&out, &["--task", "per_protocol"]);
    let packets: u64 = lines
        .iter()
        .map(|line| line["packets"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(packets, written * 50);
}

#[test]
fn sigkill_mid_run_never_shows_a_partial_window_and_the_next_start_cleans_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("many-windows.pcap");
    let mut specs = mixed_packets(100_000, START, SECOND / 20, 22);
    write_pcap(&capture, &mut specs);
    let out = dir.path().join("out");
    let mut child = netspectra()
        .args(["analyze", "--snapshot-interval", "1s", "--output"])
        .arg(&out)
        .arg(&capture)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netspectra starts");
    let killed_pid = child.id();
    let mut log = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut windows_seen = 0;
    while windows_seen < 20 {
        let line = log.next().expect("the log goes on").expect("UTF-8");
        windows_seen += usize::from(line.contains("written to"));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    let visible = window_dirs(&out);
    assert!(!visible.is_empty());
    for window in &visible {
        // A window whose only part was being written when the kill came
        // holds just a temporary directory: nothing to show yet.
        if part_dirs(window).is_empty() {
            continue;
        }
        // Fails if any shard file is missing or disagrees with its summary.
        inspect_json(window, &[]);
    }
    let tiny = dir.path().join("tiny.pcap");
    let mut one = mixed_packets(1, START, 1, 23);
    write_pcap(&tiny, &mut one);
    assert_eq!(
        analyze(&[&tiny], &out, &["--snapshot-interval", "1s"]).status,
        0
    );
    let leftovers: Vec<String> = leftovers(&out)
        .into_iter()
        .filter(|name| name.ends_with(&format!("-{killed_pid}")))
        .collect();
    assert!(leftovers.is_empty(), "left after restart: {leftovers:?}");
}

/// The pid of a process that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("true runs");
    let pid = child.id();
    child.wait().expect("reaped");
    assert!(!Path::new("/proc").join(pid.to_string()).exists());
    pid
}

#[test]
fn the_next_start_removes_a_killed_writers_temporary_part_and_removal_and_nothing_else() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("one-window.pcap");
    let mut specs = mixed_packets(20, START, SECOND / 100, 24);
    write_pcap(&capture, &mut specs);
    let out = dir.path().join("out");
    assert_eq!(analyze(&[&capture], &out, &[]).status, 0);
    let window = "2025-09-09T10-00-00Z";
    let dead = dead_pid();
    let alive = std::process::id();
    let run = "run-00c0ffee12345678";
    // What a writer killed inside a window's write and inside a retention
    // removal leaves, in exactly the form it uses: these must go.
    let killed = [
        format!("{window}/.tmp-{run}-{dead}/per_src_ip"),
        format!(".del-2025-09-09T09-59-00Z-{dead}/{run}/per_src_ip"),
    ];
    // Look-alikes: another layout's names, a live writer's part, the wrong
    // hex case, a pid with a leading zero, a removal of no window name.
    let kept = [
        format!("{window}/.tmp-{window}-0/per_src_ip"),
        format!("{window}/.tmp-{run}-{alive}/per_src_ip"),
        format!("{window}/.tmp-run-00C0FFEE12345678-{dead}/per_src_ip"),
        format!("{window}/.tmp-{run}-0{dead}/per_src_ip"),
        format!(".tmp-{window}-{dead}/per_src_ip"),
        format!(".del-notes-{dead}/per_src_ip"),
    ];
    for path in killed.iter().chain(&kept) {
        std::fs::create_dir_all(out.join(path)).expect("planted");
        std::fs::write(out.join(path).join("summary.json"), b"{}").expect("planted file");
    }

    let tiny = dir.path().join("tiny.pcap");
    let mut one = mixed_packets(1, START + 3_600 * SECOND, 1, 25);
    write_pcap(&tiny, &mut one);
    let next = analyze(&[&tiny], &out, &[]);
    assert_eq!(next.status, 0, "{}", next.stderr);

    for path in &killed {
        let top = path.rsplit_once('/').expect("nested").0;
        assert!(!out.join(top).exists(), "{top} was left in place");
    }
    for path in &kept {
        assert!(out.join(path).exists(), "{path} was removed");
    }
    // The earlier run's window is whole and still readable.
    assert_eq!(
        inspect_json(&out.join(window), &["--task", "per_protocol"])
            .iter()
            .map(|line| line["packets"].as_u64().expect("packets"))
            .sum::<u64>(),
        20
    );
}

/// The default tasks, each a directory in every complete part.
const TASKS: [&str; 6] = [
    "per_dst_ip",
    "per_dst_port",
    "per_five_tuple",
    "per_protocol",
    "per_src_ip",
    "per_src_port",
];

/// What is wrong with a visible part directory, if anything: a task
/// directory, a summary or a shard file it names is missing, or a summary
/// is not whole JSON. A part that vanished while being looked at is fine.
fn incomplete(part: &Path) -> Option<String> {
    let Ok(entries) = std::fs::read_dir(part) else {
        return None;
    };
    let mut tasks: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    tasks.sort();
    if tasks != TASKS {
        return Some(format!("{}: tasks {tasks:?}", part.display()));
    }
    for task in TASKS {
        let text = match std::fs::read_to_string(part.join(task).join("summary.json")) {
            Ok(text) => text,
            Err(error) => return Some(format!("{}/{task}/summary.json: {error}", part.display())),
        };
        let Ok(summary) = serde_json::from_str::<serde_json::Value>(&text) else {
            return Some(format!(
                "{}/{task}/summary.json: not whole: {text:?}",
                part.display()
            ));
        };
        let shards = summary["shards"].as_u64().unwrap_or(0);
        for shard in 0..shards {
            let file = part.join(task).join(format!("shard_{shard}.dat"));
            if !file.is_file() {
                return Some(format!("{} is missing", file.display()));
            }
        }
    }
    None
}

/// One look at the output root: the problems of every visible part, and
/// whether window `watched` has any entry yet (a part being written).
fn look(root: &Path, watched: &str) -> (Vec<String>, bool) {
    let mut problems = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return (problems, false);
    };
    let mut started = false;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with('Z') {
            continue;
        }
        let Ok(parts) = std::fs::read_dir(entry.path()) else {
            continue;
        };
        for part in parts.filter_map(Result::ok) {
            let part_name = part.file_name().to_string_lossy().into_owned();
            started |= name == watched;
            if part_name.starts_with("run-") {
                problems.extend(incomplete(&part.path()));
            }
        }
    }
    (problems, started)
}

/// `windows` one-second windows of `keys` distinct 5-tuples each, 60-byte frames.
fn many_keys_capture(path: &Path, windows: u64, keys: u64) {
    let mut writer = PcapWriter::new(1, true, Endian::Little);
    for window in 0..windows {
        for key in 0..keys {
            let spec = PacketSpec {
                src: std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + key as u32)),
                dst: std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, window as u8)),
                src_port: 1024 + (key % 50_000) as u16,
                dst_port: 443,
                protocol: 17,
                timestamp_ns: START + window * SECOND + key * (SECOND / keys),
                wire_len: 0,
            };
            let frame = ethernet_frame(&spec, 4);
            writer.packet(spec.timestamp_ns, &frame, frame.len() as u32);
        }
    }
    writer.write_to(path).expect("capture written");
}

#[test]
fn a_reader_polling_the_root_never_sees_a_part_with_missing_files_even_after_sigkill_inside_a_write()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("big-windows.pcap");
    let (windows, keys) = (4, 150_000);
    many_keys_capture(&capture, windows, keys);
    let out = dir.path().join("out");
    let mut rng = Rng::new(u64::from(std::process::id()));
    // Kill inside the write of window 1 or 2, 0 to 15 ms after its part appeared.
    let target = 1 + rng.below(2);
    let delay = Duration::from_millis(rng.below(16));
    let watched = format!("2025-09-09T10-00-0{target}Z");
    let mut child = netspectra()
        .args(["analyze", "--snapshot-interval", "1s", "--output"])
        .arg(&out)
        .arg(&capture)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("netspectra starts");
    let killed_pid = child.id();
    let mut seen = Vec::new();
    let mut kill_at = None;
    let mut looks = 0u64;
    loop {
        let (problems, started) = look(&out, &watched);
        looks += 1;
        seen.extend(problems);
        if started && kill_at.is_none() {
            kill_at = Some(Instant::now() + delay);
        }
        if kill_at.is_some_and(|at| Instant::now() >= at) {
            child.kill().expect("SIGKILL");
            break;
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("the run ended ({status}) before window {watched} was written");
        }
    }
    child.wait().expect("reaped");
    assert!(
        seen.is_empty(),
        "seen while writing ({looks} looks): {seen:?}"
    );

    let (problems, _) = look(&out, &watched);
    assert!(problems.is_empty(), "after SIGKILL: {problems:?}");
    let mut whole = 0;
    for window in window_dirs(&out) {
        if part_dirs(&window).is_empty() {
            continue; // killed between creating the window and installing its part
        }
        // Fails if any shard file is missing or disagrees with its summary.
        let lines = inspect_json(&window, &["--task", "per_protocol"]);
        let packets: u64 = lines
            .iter()
            .map(|line| line["packets"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(packets, keys, "{}", window.display());
        whole += 1;
    }
    assert!(
        whole >= target,
        "windows before {watched} are visible: {whole}"
    );

    let tiny = dir.path().join("tiny.pcap");
    let mut one = mixed_packets(1, START + 3_600 * SECOND, 1, 26);
    write_pcap(&tiny, &mut one);
    let next = analyze(&[&tiny], &out, &["--snapshot-interval", "1s"]);
    assert_eq!(next.status, 0, "{}", next.stderr);
    let left: Vec<String> = leftovers(&out)
        .into_iter()
        .filter(|name| name.ends_with(&format!("-{killed_pid}")))
        .collect();
    assert!(left.is_empty(), "left after restart: {left:?}");
}
