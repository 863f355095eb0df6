//! Following a child's log after start-up: every line is kept for the end
//! of the test and also handed over as it comes, so a test can wait for
//! what the shards have been handed without sleeping.

use std::io::{BufReader, Lines};
use std::process::ChildStderr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest wait for the shards to be handed the packets a test sent.
const READ_DEADLINE: Duration = Duration::from_secs(30);

/// The rest of a child's log, read on a thread of its own.
pub struct LogFollower {
    /// Each line after start-up, as it comes.
    pub lines: mpsc::Receiver<String>,
    reader: std::thread::JoinHandle<String>,
}

/// Reads `rest` to its end on a thread; the whole log is `seen` followed by it.
pub fn follow(rest: Lines<BufReader<ChildStderr>>, seen: String) -> LogFollower {
    let (sender, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        rest.map_while(Result::ok).fold(seen, |mut all, line| {
            all.push_str(&line);
            all.push('\n');
            let _ = sender.send(line);
            all
        })
    });
    LogFollower { lines, reader }
}

impl LogFollower {
    /// Waits until the shards have been handed `packets` packets (shard 0
    /// sees every batch and logs each one at debug level), at most
    /// `READ_DEADLINE` in all, however many other lines come meanwhile.
    pub fn wait_until_read(&self, packets: u64) {
        let deadline = Instant::now() + READ_DEADLINE;
        let mut handed = 0;
        while handed < packets {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "only {handed} of {packets} packets read in {} s",
                    READ_DEADLINE.as_secs()
                )
            });
            if let Some(batch) = line
                .split_once("shard 0: batch of ")
                .and_then(|(_, rest)| rest.split_whitespace().next())
            {
                handed += batch.parse::<u64>().expect("a packet count");
            }
        }
    }

    /// The whole log, once the child has closed it.
    pub fn join(self) -> String {
        self.reader.join().expect("log reader thread")
    }
}
