//! Prefix keys (`SrcIP/24`, `DstIP/64`, `SrcIP/24,48`) through the binary:
//! tasks keyed by prefixes, run beside an exact task of whole addresses,
//! must hold the exact task's rows regrouped by prefix here in the test.
//! Bad prefixes are config errors naming the key and line.

pub mod support;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::cli::{analyze, inspect_json, netspectra};
use support::traffic::{mixed_packets, write_pcap};

const SECOND: u64 = 1_000_000_000;
const START_NS: u64 = 1_757_412_000 * SECOND;

/// The whole addresses, and the prefixed tasks the test regroups them by:
/// (task, key field as configured, field in `inspect`, IPv4 length, IPv6 length).
const PREFIXED: [(&str, &str, &str, u8, u8); 4] = [
    ("src_v4_24", "SrcIP/24", "src_ip", 24, 128),
    ("dst_v6_64", "DstIP/64", "dst_ip", 32, 64),
    ("src_both", "\"SrcIP/16,120\"", "src_ip", 16, 120),
    ("src_none", "SrcIP/0", "src_ip", 0, 128),
];

fn config(dir: &Path) -> PathBuf {
    let mut yaml = "aggregator:\n  snapshot_interval: 20s\n  exact_tasks:\n".to_string();
    yaml.push_str("    - {name: src, key_fields: [SrcIP]}\n");
    yaml.push_str("    - {name: dst, key_fields: [DstIP]}\n");
    for (task, field, _, _, _) in PREFIXED {
        yaml.push_str(&format!("    - {{name: {task}, key_fields: [{field}]}}\n"));
    }
    let path = dir.join("prefixes.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// `ip` cut to `v4` or `v6` bits, written as `inspect` writes a prefix
/// (`10.0.1.0/24`) or, when nothing is cut, as the bare address.
fn network(ip: IpAddr, v4: u8, v6: u8) -> String {
    match ip {
        IpAddr::V4(ip) if v4 < 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(v4)).unwrap_or(0);
            format!("{}/{v4}", std::net::Ipv4Addr::from(u32::from(ip) & mask))
        }
        IpAddr::V6(ip) if v6 < 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(v6)).unwrap_or(0);
            format!("{}/{v6}", std::net::Ipv6Addr::from(u128::from(ip) & mask))
        }
        whole => whole.to_string(),
    }
}

/// Packets and bytes per value of `field` in `task`'s merged rows.
fn sums(lines: &[Value], task: &str, field: &str) -> BTreeMap<String, (u64, u64)> {
    let mut sums = BTreeMap::new();
    for line in lines.iter().filter(|line| line["task"] == task) {
        let key = line[field].as_str().expect("an address").to_string();
        let entry: &mut (u64, u64) = sums.entry(key).or_default();
        entry.0 += line["packets"].as_u64().unwrap();
        entry.1 += line["bytes"].as_u64().unwrap();
    }
    sums
}

#[test]
fn prefix_tasks_equal_the_exact_task_regrouped_by_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("mixed.pcap");
    let mut packets = mixed_packets(3_000, START_NS, SECOND / 50, 12);
    write_pcap(&capture, &mut packets);
    let out = dir.path().join("out");
    let config = config(dir.path());
    let run = analyze(&[&capture], &out, &["--config", config.to_str().unwrap()]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let lines = inspect_json(&out, &["--merge"]);
    for (task, _, field, v4, v6) in PREFIXED {
        let whole = sums(&lines, if field == "src_ip" { "src" } else { "dst" }, field);
        assert!(whole.len() > 5, "the traffic has many addresses: {whole:?}");
        let mut regrouped: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (address, (packets, bytes)) in whole {
            let ip: IpAddr = address
                .parse()
                .expect("the exact task holds whole addresses");
            let entry = regrouped.entry(network(ip, v4, v6)).or_default();
            entry.0 += packets;
            entry.1 += bytes;
        }
        assert_eq!(sums(&lines, task, field), regrouped, "task {task}");
    }
    let regroup = |task: &str, group_by: &str| {
        inspect_json(&out, &["--merge", "--task", task, "--group-by", group_by])
    };
    assert_eq!(
        sums(&regroup("src", "src_ip/24"), "src", "src_ip"),
        sums(&lines, "src_v4_24", "src_ip"),
        "--group-by src_ip/24 at query time equals SrcIP/24 in the config"
    );
    assert_eq!(
        sums(&regroup("src_both", "src_ip"), "src_both", "src_ip"),
        sums(&lines, "src_both", "src_ip"),
        "grouping a prefix task by its address keeps the stored prefix"
    );
    let finer = netspectra()
        .args([
            "inspect",
            "--merge",
            "--task",
            "src_both",
            "--group-by",
            "src_ip/24",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&finer.stderr);
    assert_eq!(finer.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "task src_both stores src_ip as src_ip/16,120, so it cannot be cut to src_ip/24"
        ),
        "{stderr}"
    );
}

#[test]
fn a_prefix_is_part_of_the_task_definition_in_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("mixed.pcap");
    write_pcap(&capture, &mut mixed_packets(50, START_NS, SECOND, 3));
    let out = dir.path().join("out");
    let config = config(dir.path());
    let run = analyze(&[&capture], &out, &["--config", config.to_str().unwrap()]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("netspectra-root.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["tasks"]["src_both"],
        "kind=exact key=SrcIP/16,120 max_keys=none"
    );
    let other = dir.path().join("other.yaml");
    let changed = std::fs::read_to_string(&config)
        .unwrap()
        .replace("SrcIP/24", "SrcIP/25");
    std::fs::write(&other, changed).unwrap();
    let rerun = analyze(&[&capture], &out, &["--config", other.to_str().unwrap()]);
    assert_eq!(rerun.status, 2, "{}", rerun.stderr);
    assert!(
        rerun.stderr.contains("key=SrcIP/24 ") && rerun.stderr.contains("key=SrcIP/25 "),
        "{}",
        rerun.stderr
    );
}

#[track_caller]
fn check_refused(key_fields: &str, bidirectional: bool, want: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    let yaml = format!(
        "aggregator:\n  exact_tasks:\n    - name: cut\n      key_fields: {key_fields}\n      bidirectional: {bidirectional}\n"
    );
    std::fs::write(&path, yaml).unwrap();
    let output = netspectra()
        .args(["analyze", "--config", path.to_str().unwrap(), "-o"])
        .arg(dir.path().join("out"))
        .arg(dir.path().join("none.pcap"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for part in want {
        assert!(stderr.contains(part), "want {part:?} in {stderr}");
    }
}

#[test]
fn bad_prefixes_are_config_errors_naming_the_field_key_and_line() {
    check_refused(
        "[SrcIP/129]",
        false,
        &[
            "aggregator.exact_tasks[0].key_fields[0]",
            "\"SrcIP/129\"",
            "from 0 to 128",
            "line 4",
        ],
    );
    check_refused(
        "[\"DstIP/33,64\"]",
        false,
        &["key_fields[0]", "IPv4 prefix length \"33\"", "from 0 to 32"],
    );
    check_refused(
        "[SrcIP, DstPort/8]",
        false,
        &["key_fields[1]", "only SrcIP and DstIP take a prefix"],
    );
    check_refused(
        "[SrcIP/24,48]",
        false,
        &["key_fields[1]", "needs quotes", "[\"SrcIP/24,48\"]"],
    );
}

#[test]
fn a_bidirectional_task_needs_the_same_fields_for_both_ends() {
    check_refused(
        "[SrcIP, DstPort]",
        true,
        &[
            "aggregator.exact_tasks",
            "task \"cut\": bidirectional needs key fields that are the same for both ends",
            "[SrcIP, DstPort]",
            "line 3",
        ],
    );
    check_refused(
        "[SrcIP/24, DstIP]",
        true,
        &["task \"cut\"", "equal prefixes", "[SrcIP/24, DstIP]"],
    );
}
