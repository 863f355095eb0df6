//! A private ClickHouse server for one test: Debian's `clickhouse-server`
//! started with a config this module writes (loopback only, free ports,
//! data in a temporary directory), killed and restarted on demand, and
//! stopped when dropped. Also a small HTTP client for the test's queries.
//! [`ClickHouseServer::start_cluster`] starts several such servers whose
//! configs name them all, as shards of the cluster [`CLUSTER`].
//!
//! Where the package is not installed, [`ClickHouseServer::start`] prints
//! why the test is skipped and returns `None`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The user with a password that the users file defines, for credential tests.
pub const USER: &str = "probe";
pub const PASSWORD: &str = "s3cret-pass";

/// The cluster `remote_servers` defines in the servers of [`ClickHouseServer::start_cluster`].
pub const CLUSTER: &str = "netspectra";

/// How long a fresh or restarted server may take to answer `/ping`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How many sets of fresh ports a start tries before it gives up.
const START_ATTEMPTS: usize = 5;

/// A running server and everything it owns on disk.
pub struct ClickHouseServer {
    binary: PathBuf,
    config: PathBuf,
    dir: TempDir,
    child: Option<Child>,
    pub http_port: u16,
    /// The native-protocol port, which answers HTTP with an error.
    pub tcp_port: u16,
    agent: ureq::Agent,
}

impl ClickHouseServer {
    /// Starts a server; `None`, after printing `SKIP ...`, when the
    /// `clickhouse-server` package is not installed.
    pub fn start() -> Option<ClickHouseServer> {
        Self::start_cluster(1).map(|mut servers| servers.remove(0))
    }

    /// Starts `shards` servers, each with a `remote_servers` section
    /// defining [`CLUSTER`] with one shard per server, in order; `None`,
    /// after printing `SKIP ...`, when the package is not installed.
    pub fn start_cluster(shards: usize) -> Option<Vec<ClickHouseServer>> {
        let Some(binary) = find_binary() else {
            eprintln!(
                "SKIP: clickhouse-server is not installed (apt-get install clickhouse-server)"
            );
            return None;
        };
        for attempt in 1..=START_ATTEMPTS {
            match Self::try_start_cluster(&binary, shards) {
                Ok(servers) => return Some(servers),
                Err(NotReady::PortTaken(log)) if attempt < START_ATTEMPTS => {
                    eprintln!(
                        "a port was taken before clickhouse-server bound it; trying fresh ports:\n{log}"
                    );
                }
                Err(failure) => panic!("{failure}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// One attempt at [`start_cluster`](Self::start_cluster) on fresh ports.
    /// The ports are free when chosen but released before the servers bind
    /// them, so another process may take one in between.
    fn try_start_cluster(binary: &Path, shards: usize) -> Result<Vec<ClickHouseServer>, NotReady> {
        let ports: Vec<Ports> = (0..shards).map(|_| Ports::free()).collect();
        let remote_servers = remote_servers(&ports);
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        let mut servers: Vec<ClickHouseServer> = ports
            .into_iter()
            .map(|ports| {
                let dir = tempfile::tempdir().expect("temporary directory for the server");
                let config = write_config(dir.path(), &ports, &remote_servers);
                ClickHouseServer {
                    binary: binary.to_path_buf(),
                    config,
                    dir,
                    child: None,
                    http_port: ports.http,
                    tcp_port: ports.tcp,
                    agent: agent.clone(),
                }
            })
            .collect();
        for server in &mut servers {
            server.spawn();
        }
        for server in &mut servers {
            server.wait_ready()?;
        }
        Ok(servers)
    }

    /// `http://127.0.0.1:<http port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// SIGKILL, as a crash or a pulled cable would; waits for the process to end.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same ports and data, after [`kill`](Self::kill).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// Runs `sql` as the passwordless `default` user; panics on any error.
    pub fn query(&self, sql: &str) -> String {
        String::from_utf8(self.query_bytes(sql)).expect("the answer is text")
    }

    /// The same, for an answer that may hold any bytes (`FixedString`s in TSV).
    pub fn query_bytes(&self, sql: &str) -> Vec<u8> {
        let mut response = self
            .agent
            .post(&self.url())
            .send(sql.as_bytes())
            .expect("the test server answers");
        let status = response.status();
        let body = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .expect("the answer is read");
        assert!(
            status.is_success(),
            "{sql}\n-> {status}: {}",
            String::from_utf8_lossy(&body)
        );
        body
    }

    fn launch(&mut self) {
        self.spawn();
        if let Err(failure) = self.wait_ready() {
            panic!("{failure}");
        }
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("stdout.log")).expect("log file");
        let child = Command::new(&self.binary)
            .arg(format!("--config-file={}", self.config.display()))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file handle"))
            .stderr(log)
            .spawn()
            .expect("clickhouse-server starts");
        self.child = Some(child);
    }

    /// Waits until the server answers `/ping`; fails at once if it exits.
    fn wait_ready(&mut self) -> Result<(), NotReady> {
        let started = Instant::now();
        while started.elapsed() < READY_TIMEOUT {
            let ping = self
                .agent
                .get(format!("{}/ping", self.url()))
                .call()
                .ok()
                .and_then(|mut answer| answer.body_mut().read_to_string().ok());
            if ping.is_some_and(|text| text.starts_with("Ok.")) {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                let log = self.error_log();
                return Err(if log.contains("Address already in use") {
                    NotReady::PortTaken(log)
                } else {
                    NotReady::Exited(format!("{status}:\n{log}"))
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(NotReady::Silent(self.error_log()))
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log/server.err.log")).unwrap_or_default()
    }
}

/// Why a server did not come up.
enum NotReady {
    /// It exited because another process had bound one of its ports.
    PortTaken(String),
    /// It exited for another reason: the status and its error log.
    Exited(String),
    /// It ran but did not answer `/ping` in time: its error log.
    Silent(String),
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReady::PortTaken(log) => write!(f, "clickhouse-server found a port taken:\n{log}"),
            NotReady::Exited(why) => write!(f, "clickhouse-server exited with {why}"),
            NotReady::Silent(log) => write!(
                f,
                "clickhouse-server did not answer /ping within {READY_TIMEOUT:?}:\n{log}"
            ),
        }
    }
}

impl Drop for ClickHouseServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn find_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|dir: PathBuf| dir.join("clickhouse-server"))
        .find(|candidate| candidate.is_file())
}

/// The ports one server listens on.
struct Ports {
    http: u16,
    tcp: u16,
    interserver: u16,
}

impl Ports {
    /// Three distinct free loopback ports (bound at once, then released).
    fn free() -> Ports {
        let listeners: Vec<TcpListener> = (0..3)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"))
            .collect();
        let port = |index: usize| listeners[index].local_addr().expect("bound").port();
        Ports {
            http: port(0),
            tcp: port(1),
            interserver: port(2),
        }
    }
}

/// The `remote_servers` section naming every server's native port as one
/// shard of [`CLUSTER`], queried as the passwordless `default` user.
fn remote_servers(servers: &[Ports]) -> String {
    let shards: String = servers
        .iter()
        .map(|ports| {
            format!(
                "      <shard><replica><host>127.0.0.1</host><port>{}</port></replica></shard>\n",
                ports.tcp
            )
        })
        .collect();
    format!("  <remote_servers>\n    <{CLUSTER}>\n{shards}    </{CLUSTER}>\n  </remote_servers>\n")
}

/// The server's files. `temporary_directories_lifetime`: a server killed
/// during a merge leaves the merge's `tmp_merge_*` directory behind, and
/// 18.16, restarted, fails that merge ("already exists"), and every
/// mutation queued behind it, until the directory is older than this
/// (default one day). The crash tests restart a server and need it to
/// recover in seconds (docs/clickhouse.md has the operator's side).
fn write_config(dir: &Path, ports: &Ports, remote_servers: &str) -> PathBuf {
    let root = dir.display();
    let users = dir.join("users.xml");
    std::fs::write(
        &users,
        format!(
            r#"<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
    <{USER}>
      <password>{PASSWORD}</password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </{USER}>
  </users>
  <quotas><default></default></quotas>
</yandex>
"#
        ),
    )
    .expect("users file");
    let config = dir.join("config.xml");
    std::fs::write(
        &config,
        format!(
            r#"<?xml version="1.0"?>
<yandex>
  <logger>
    <level>information</level>
    <log>{root}/log/server.log</log>
    <errorlog>{root}/log/server.err.log</errorlog>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <interserver_http_port>{interserver}</interserver_http_port>
  <path>{root}/data/</path>
  <tmp_path>{root}/tmp/</tmp_path>
  <user_files_path>{root}/user_files/</user_files_path>
  <format_schema_path>{root}/format_schemas/</format_schema_path>
  <users_config>{users}</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>104857600</mark_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <merge_tree><temporary_directories_lifetime>10</temporary_directories_lifetime></merge_tree>
{remote_servers}</yandex>
"#,
            users = users.display(),
            http = ports.http,
            tcp = ports.tcp,
            interserver = ports.interserver,
        ),
    )
    .expect("server config");
    config
}
