//! Go2NetSpectra HEAD config files driving `netspectra analyze` as they are:
//! every key of that layout, `${VAR}` expanded from the process's
//! environment, disabled writers skipped, the exact tasks' windows (and,
//! with `types: [exact, sketch]`, the sketch tasks') under the gob writer's
//! `root_path`, and an enabled ClickHouse writer that cannot be reached
//! stopping the run with status 2 before the first packet.

#[path = "support/clickhouse.rs"]
pub mod server;
pub mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use server::ClickHouseServer;
use support::cli::{inspect_json, netspectra};
use support::store::{task_dir, window_dirs};
use support::traffic::{expected_tables, mixed_packets, tables_from_inspect, write_pcap};

/// The first packet's time: 2023-11-14T22:13:20Z, on a window boundary.
const START_NS: u64 = 1_700_000_000_000_000_000;

/// The HEAD config with every key of the layout; the environment fills it
/// in (see the file's head).
fn head_config() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/go2netspectra-head.yaml");
    std::fs::read_to_string(path).expect("tests/data/go2netspectra-head.yaml")
}

/// A temporary directory holding `config.yaml` (`text`) and a capture of
/// 3,000 packets over three one-second windows; also what it holds.
struct Setup {
    dir: tempfile::TempDir,
    specs: Vec<support::traffic::PacketSpec>,
}

impl Setup {
    fn new(config: &str) -> Setup {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("config.yaml"), config).expect("config written");
        let mut specs = mixed_packets(3000, START_NS, 1_000_000, 41);
        write_pcap(&dir.path().join("in.pcap"), &mut specs);
        Setup { dir, specs }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `netspectra analyze --config config.yaml <extra> in.pcap` in the
    /// directory, with `vars` added to the environment.
    fn analyze(&self, extra: &[&str], vars: &[(&str, &str)]) -> Output {
        netspectra()
            .current_dir(self.dir.path())
            .args(["analyze", "--config", "config.yaml"])
            .args(extra)
            .arg("in.pcap")
            .env("RUST_LOG", "info")
            .envs(vars.iter().copied())
            .output()
            .expect("netspectra runs")
    }
}

/// The variables the HEAD config needs to run `types` with one-second
/// windows under `root`; the ClickHouse writer's and those of the ignored
/// sections are left unset, so that writer is disabled.
fn variables(types: &str, root: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("TYPES", types.to_string()),
        ("WORKERS", "2".to_string()),
        ("GOB_INTERVAL", "1s".to_string()),
        ("GONS_ROOT", root.display().to_string()),
    ]
}

/// `vars` as the pairs `Setup::analyze` takes.
fn pairs<'v>(vars: &'v [(&'static str, String)]) -> Vec<(&'static str, &'v str)> {
    vars.iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

#[track_caller]
fn assert_success(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    stderr
}

/// Checks that `root` holds three windows of the two exact tasks, whose
/// merged counts are the capture's.
#[track_caller]
fn assert_exact_windows(root: &Path, setup: &Setup) {
    let windows = window_dirs(root);
    assert_eq!(windows.len(), 3, "one window per second: {windows:?}");
    for window in &windows {
        for task in ["per_src_ip", "per_five_tuple"] {
            assert!(
                task_dir(window, task).join("summary.json").is_file(),
                "{task} in {}",
                window.display()
            );
        }
    }
    let got = tables_from_inspect(&inspect_json(root, &["--merge"]));
    let want = expected_tables(&setup.specs);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        ["per_five_tuple", "per_src_ip"]
    );
    for (task, table) in &got {
        assert_eq!(table, &want[task.as_str()], "task {task}");
    }
}

#[test]
fn a_head_config_with_every_key_runs_its_exact_tasks_into_the_gob_root_path() {
    let setup = Setup::new(&head_config());
    let root = setup.path("gons-res");
    let vars = variables("[\"exact\"]", &root);
    let log = assert_success(&setup.analyze(&["--json"], &pairs(&vars)));
    assert_exact_windows(&root, &setup);
    for said in [
        "ignoring the Go2NetSpectra section(s) probe, ai",
        "aggregator.sketch: not run, aggregator.types does not list `sketch`",
        "aggregator.exact.writers[0]: Go2NetSpectra's `gob` writer is netspectra's files writer at",
        "aggregator.exact.writers[1]: text writer not enabled",
        "aggregator.exact.writers[2]: clickhouse writer not enabled",
        "2 task(s), 2 worker(s) (1 counting: sketches and roll-ups are not split), 1s windows",
    ] {
        assert!(log.contains(said), "want {said:?} in:\n{log}");
    }
    assert!(!setup.path("text-res").exists());
}

#[test]
fn output_replaces_the_gob_root_path() {
    let setup = Setup::new(&head_config());
    let root = setup.path("gons-res");
    let vars = variables("[exact]", &root);
    assert_success(&setup.analyze(&["--output", "elsewhere"], &pairs(&vars)));
    assert_exact_windows(&setup.path("elsewhere"), &setup);
    assert!(!root.exists(), "the root_path is not used with --output");
}

#[test]
fn an_unset_variable_where_a_value_is_required_is_a_config_error_naming_key_and_variable() {
    let setup = Setup::new(&head_config());
    let mut vars = variables("[exact]", &setup.path("gons-res"));
    vars.retain(|(name, _)| *name != "GONS_ROOT");
    let output = setup.analyze(&[], &pairs(&vars));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "aggregator.exact.writers[0].gob.root_path: an enabled gob writer needs gob.root_path"
        ) && stderr.contains("at line 21; ${GONS_ROOT} on line 21 is unset or empty"),
        "{stderr}"
    );
}

/// Runs `analyze` with the ClickHouse writer enabled at 127.0.0.1 on
/// `http_port`; asserts status 2, `want` in the message, no password.
#[track_caller]
fn check_clickhouse_refused(http_port: u16, want: &str) {
    let setup = Setup::new(&head_config());
    let root = setup.path("gons-res");
    let mut vars = variables("[exact]", &root);
    vars.extend([
        ("CLICKHOUSE_ENABLED", "true".to_string()),
        ("CLICKHOUSE_HOST", "127.0.0.1".to_string()),
        ("CLICKHOUSE_PORT", "9000".to_string()),
        ("CLICKHOUSE_HTTP_PORT", http_port.to_string()),
        ("CLICKHOUSE_PASSWORD", "hunter2-secret".to_string()),
    ]);
    let output = setup.analyze(&[], &pairs(&vars));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(want), "want {want:?} in:\n{stderr}");
    assert!(!stderr.contains("hunter2-secret"), "{stderr}");
    assert!(!root.exists(), "refused before the output root is made");
}

#[test]
fn an_enabled_clickhouse_writer_on_a_closed_port_stops_analyze_with_status_2() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("bound")
        .port();
    check_clickhouse_refused(
        closed,
        &format!("cannot store windows: ClickHouse at http://127.0.0.1:{closed}: no answer"),
    );
}

#[test]
fn a_clickhouse_http_port_that_is_the_native_port_is_named_as_such() {
    let Some(server) = ClickHouseServer::start() else {
        return;
    };
    check_clickhouse_refused(
        server.tcp_port,
        &format!(
            "ClickHouse at http://127.0.0.1:{}: this is the server's native-protocol port, not its HTTP interface",
            server.tcp_port
        ),
    );
}

#[test]
fn a_head_config_runs_its_sketch_tasks_beside_the_exact_tasks() {
    let setup = Setup::new(&head_config());
    let root = setup.path("gons-res");
    let vars = variables("[\"exact\", \"sketch\"]", &root);
    let log = assert_success(&setup.analyze(&[], &pairs(&vars)));
    assert!(log.contains("4 task(s)"), "{log}");
    let windows = window_dirs(&root);
    assert_eq!(windows.len(), 3, "one window per second: {windows:?}");
    for window in windows {
        for task in ["per_src_ip", "per_five_tuple", "hh_src_ip", "ss_src_ip"] {
            assert!(
                task_dir(&window, task).join("summary.json").is_file(),
                "{task} in {}",
                window.display()
            );
        }
    }
    // Every source talks to four servers: over count_thereshold 2.
    let spreads = inspect_json(&root, &["--merge", "--task", "ss_src_ip"]);
    assert!(!spreads.is_empty());
    for line in spreads {
        assert_eq!(line["estimated"], true, "{line}");
        assert!(
            line["spread"].as_u64().is_some_and(|spread| spread >= 2),
            "{line}"
        );
    }
}
