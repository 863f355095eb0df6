//! A window's flow INSERTs over several connections at once.
//!
//! The server parses, checks and writes each INSERT on a thread of its own,
//! so [`CONNECTIONS`] INSERTs in flight keep that many server cores busy
//! while the writer encodes the next block. Only the flow rows go this way:
//! the commit marker is inserted after every one of them has succeeded.

use std::sync::Mutex;
use std::sync::mpsc;

use super::client::{ClickHouseError, Client};

/// INSERTs in flight at once.
pub const CONNECTIONS: usize = 2;

/// The first failed INSERT, and whether one failed (the error itself is
/// handed to the encoder when it sends the next block).
#[derive(Default)]
struct Failure {
    failed: bool,
    error: Option<ClickHouseError>,
}

/// Runs `encode`, sending each block it hands over as one `insert`, up to
/// [`CONNECTIONS`] at a time. Returns once every INSERT has ended: `Ok`
/// when all succeeded, else the first failure (of an INSERT or of
/// `encode`). After a failure the remaining blocks are not sent.
pub fn insert_all<E>(client: &Client, insert: &str, encode: E) -> Result<(), ClickHouseError>
where
    E: FnOnce(
        &mut dyn FnMut(Vec<u8>) -> Result<(), ClickHouseError>,
    ) -> Result<(), ClickHouseError>,
{
    let (sender, receiver) = mpsc::sync_channel::<Vec<u8>>(0);
    let receiver = Mutex::new(receiver);
    let failure = Mutex::new(Failure::default());
    let encoded = std::thread::scope(|scope| {
        for _ in 0..CONNECTIONS {
            scope.spawn(|| send_blocks(client, insert, &receiver, &failure));
        }
        let mut send = |block: Vec<u8>| {
            if let Some(error) = lock(&failure).error.take() {
                return Err(error);
            }
            sender
                .send(block)
                .expect("the receiver lives until this function returns");
            Ok(())
        };
        let encoded = encode(&mut send);
        drop(sender);
        encoded
    });
    let failure = failure
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match failure.error {
        Some(error) => Err(error),
        None => encoded,
    }
}

/// One connection's loop: INSERTs blocks until the channel closes, and
/// after the first failure (its own or another's) only drains them.
fn send_blocks(
    client: &Client,
    insert: &str,
    receiver: &Mutex<mpsc::Receiver<Vec<u8>>>,
    failure: &Mutex<Failure>,
) {
    loop {
        let Ok(block) = lock(receiver).recv() else {
            return;
        };
        if lock(failure).failed {
            continue;
        }
        if let Err(error) = client.insert(insert, &block) {
            let mut failure = lock(failure);
            if !failure.failed {
                failure.failed = true;
                failure.error = Some(error);
            }
        }
    }
}

/// A lock that a panicking sender cannot make unusable: the data is a
/// channel end or a flag with an error, valid in any state.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
