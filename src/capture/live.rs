//! Live capture from a network interface through libpcap (the pcap crate).
//!
//! Owns opening the interface (snap length, promiscuous mode, kernel buffer,
//! BPF filter, nanosecond timestamps, a 50 ms ring block timeout), reading
//! packets without ever blocking longer than the caller allows, the
//! kernel's drop counters, and listing interfaces. Packets are handed over
//! a ring's worth at a time (`pcap_dispatch`), not one call per packet. The
//! handle is non-blocking and waited on with `poll(2)`, together with a
//! descriptor of the caller's that ends the wait early (the stop request),
//! so the reader regains control at least every `wait` even on an idle
//! interface, at once when asked to stop, and after each bounded dispatch
//! on a busy one. After a read that emptied a busy ring, the reader first
//! pauses (watching only the stop request) as `pacing` decides, so that a
//! wake-up reads several ring blocks.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use pcap::{Active, Capture, Device, Precision};

use crate::packet::LinkType;

use super::pacing::ReadPacing;
use super::{CaptureStats, RawPacket, Timestamp};

/// Longest a packet waits in a partly filled ring block before libpcap
/// hands the block over, in milliseconds.
const BLOCK_TIMEOUT_MS: i32 = 50;

/// How to open an interface.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    pub interface: String,
    pub filter: Option<String>,
    /// Bytes kept per packet.
    pub snaplen: u32,
    pub promisc: bool,
    /// Kernel buffer in bytes.
    pub buffer_size: u32,
    /// Longest pause after a read that emptied a busy ring (see
    /// [`ReadPacing`]); zero waits on the ring again at once.
    pub read_pause: Duration,
}

/// Why an interface could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("interface {interface:?} does not exist; interfaces: {available}")]
    NoSuchInterface {
        interface: String,
        available: String,
    },
    #[error(
        "{interface}: permission denied ({message}); capturing needs root or the capabilities \
         CAP_NET_RAW and CAP_NET_ADMIN, e.g. `setcap cap_net_raw,cap_net_admin=eip $(which netspectra)`"
    )]
    PermissionDenied { interface: String, message: String },
    #[error("{interface}: BPF filter {filter:?} rejected by libpcap: {message}")]
    BadFilter {
        interface: String,
        filter: String,
        message: String,
    },
    #[error(
        "{interface}: link type {code} is not supported (supported: Ethernet, raw IP, Linux SLL/SLL2, BSD loopback, PPP, Cisco HDLC, IEEE 802.11, radiotap, NFLOG, ERF)"
    )]
    LinkType { interface: String, code: i32 },
    #[error("{interface}: cannot capture: {message}")]
    Open { interface: String, message: String },
    #[error("{interface}: read failed after {packets} packets: {message}")]
    Read {
        interface: String,
        packets: u64,
        message: String,
    },
    #[error("cannot list interfaces: {0}")]
    List(String),
}

/// An open interface.
pub struct LiveCapture {
    capture: Capture<Active>,
    interface: String,
    link_type: LinkType,
    packets_read: u64,
    /// The last read found the buffer empty: wait before reading again.
    drained: bool,
    /// Decides the pause after each read that emptied the ring.
    pacing: ReadPacing,
    /// The pause due before the next wait on the ring.
    pause: Duration,
    /// A timestamp out of range was reported (once per capture).
    bad_timestamp_reported: bool,
}

impl LiveCapture {
    /// Opens and activates the interface, installs the filter, and switches
    /// to non-blocking reads. Errors name the interface and say what to do.
    pub fn open(settings: &LiveSettings) -> Result<LiveCapture, LiveError> {
        let interface = settings.interface.clone();
        let inactive = Capture::from_device(interface.as_str())
            .map_err(|error| open_error(&interface, error))?
            .snaplen(i32::try_from(settings.snaplen).unwrap_or(i32::MAX))
            .promisc(settings.promisc)
            // Not immediate mode: libpcap then uses the TPACKET_V3 ring, which
            // stores packets at their own size. Immediate mode's TPACKET_V2
            // ring has one slot per packet sized for the snap length, so a
            // 32 MiB buffer held only ~500 packets. The block timeout bounds
            // the delay; the reader waits with poll(2) on its own schedule.
            .timeout(BLOCK_TIMEOUT_MS)
            .precision(Precision::Nano)
            .buffer_size(i32::try_from(settings.buffer_size).unwrap_or(i32::MAX));
        let mut capture = inactive
            .open()
            .map_err(|error| open_error(&interface, error))?;
        if let Some(filter) = &settings.filter {
            capture
                .filter(filter, true)
                .map_err(|error| LiveError::BadFilter {
                    interface: interface.clone(),
                    filter: filter.clone(),
                    message: error.to_string(),
                })?;
        }
        let code = capture.get_datalink().0;
        let link_type = u32::try_from(code)
            .ok()
            .and_then(LinkType::from_code)
            .ok_or_else(|| LiveError::LinkType {
                interface: interface.clone(),
                code,
            })?;
        let capture = capture
            .setnonblock()
            .map_err(|error| open_error(&interface, error))?;
        Ok(LiveCapture {
            capture,
            interface,
            link_type,
            packets_read: 0,
            drained: false,
            pacing: ReadPacing::new(
                settings.buffer_size,
                Duration::from_millis(BLOCK_TIMEOUT_MS.unsigned_abs().into()),
                settings.read_pause,
            ),
            pause: Duration::ZERO,
            bad_timestamp_reported: false,
        })
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Hands every packet the ring holds, at most `limit` of them, to
    /// `each` in capture order, with one `pcap_dispatch` call; returns how
    /// many it handed over. Fewer than `limit` means the ring is now empty:
    /// the next call first pauses as the pacing says, then waits for a
    /// block, in all at most `wait`, or until `wake` is readable (then it
    /// hands over nothing). `limit` bounds
    /// the packets handed over per call, so the caller regains control
    /// after at most that many even when the ring never empties; 0 hands
    /// over nothing. Errors name the interface and the packets read.
    ///
    /// libpcap stops short of `limit` only at a block the kernel has not
    /// handed over yet. Calling it again at once would find that block
    /// still unready and make libpcap poll(2) the socket itself, with a
    /// zero timeout: a second poll per block, each taking the socket's
    /// receive-queue lock that the kernel takes for every packet it stores.
    pub fn dispatch(
        &mut self,
        limit: usize,
        wait: Duration,
        wake: BorrowedFd<'_>,
        mut each: impl FnMut(RawPacket<'_>),
    ) -> Result<usize, LiveError> {
        if limit == 0 {
            return Ok(0);
        }
        if self.drained {
            let pause = std::mem::take(&mut self.pause).min(wait);
            if !pause.is_zero() && self.wait_for([wake], pause)? {
                return Ok(0);
            }
            if !self.wait_for([self.capture.as_fd(), wake], wait - pause)? {
                return Ok(0);
            }
            self.drained = false;
        }
        // pcap refuses (panics on) counts beyond a C int.
        let limit = limit.min(usize::try_from(libc::c_int::MAX).unwrap_or(usize::MAX));
        let LiveCapture {
            capture,
            interface,
            link_type,
            packets_read,
            pacing,
            bad_timestamp_reported,
            ..
        } = self;
        let handed = capture.dispatch(Some(limit), |packet| {
            *packets_read += 1;
            // With nanosecond precision libpcap puts nanoseconds in tv_usec.
            let ts = packet.header.ts;
            let timestamp_ns =
                Timestamp::from_nanos(i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_usec));
            if timestamp_ns.is_clamped() && !*bad_timestamp_reported {
                log::warn!(
                    "{interface}: packet #{packets_read}: timestamp is before 1970 or after 2554; counted in the first or last representable window and as bad_timestamp (later such packets are only counted)"
                );
                *bad_timestamp_reported = true;
            }
            pacing.note_packet(packet.header.caplen);
            prefetch_next_packet(packet.data);
            each(RawPacket {
                link_type: *link_type,
                timestamp_ns,
                wire_len: packet.header.len,
                data: packet.data,
            });
        });
        match handed {
            Ok(handed) => {
                self.drained = handed < limit;
                if self.drained {
                    self.pause = self.pacing.pause_after_empty(Instant::now());
                }
                Ok(handed)
            }
            Err(error) => Err(LiveError::Read {
                interface: self.interface.clone(),
                packets: self.packets_read,
                message: error.to_string(),
            }),
        }
    }

    /// libpcap's counters since the capture opened.
    pub fn stats(&mut self) -> Result<CaptureStats, LiveError> {
        let stat = self.capture.stats().map_err(|error| LiveError::Read {
            interface: self.interface.clone(),
            packets: self.packets_read,
            message: format!("cannot read statistics: {error}"),
        })?;
        Ok(CaptureStats {
            received: u64::from(stat.received),
            dropped: u64::from(stat.dropped),
            if_dropped: u64::from(stat.if_dropped),
        })
    }

    /// Waits until one of `fds` is readable or `wait` passes (in whole
    /// milliseconds, rounded down); true when the first of them is readable.
    fn wait_for<const N: usize>(
        &self,
        fds: [BorrowedFd<'_>; N],
        wait: Duration,
    ) -> Result<bool, LiveError> {
        let mut poll_fds = fds.map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        let millis = libc::c_int::try_from(wait.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: a valid array of N pollfds (N is 1 or 2) for the duration of the call.
        let ready = unsafe { libc::poll(poll_fds.as_mut_ptr(), N as libc::nfds_t, millis) };
        if ready < 0 {
            let error = std::io::Error::last_os_error();
            if error.kind() == std::io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(LiveError::Read {
                interface: self.interface.clone(),
                packets: self.packets_read,
                message: format!("poll failed: {error}"),
            });
        }
        Ok(ready > 0 && poll_fds[0].revents != 0)
    }
}

/// One interface as `netspectra interfaces` shows it.
#[derive(Debug, Clone)]
pub struct InterfaceInfo {
    pub name: String,
    pub description: Option<String>,
    pub addresses: Vec<std::net::IpAddr>,
    pub up: bool,
}

/// Every interface libpcap can open, with its addresses.
pub fn list_interfaces() -> Result<Vec<InterfaceInfo>, LiveError> {
    let devices = Device::list().map_err(|error| LiveError::List(error.to_string()))?;
    Ok(devices
        .into_iter()
        .map(|device| InterfaceInfo {
            up: device.flags.is_up(),
            addresses: device
                .addresses
                .iter()
                .map(|address| address.addr)
                .collect(),
            name: device.name,
            description: device.desc,
        })
        .collect())
}

fn open_error(interface: &str, error: pcap::Error) -> LiveError {
    let message = error.to_string();
    let lower = message.to_lowercase();
    if lower.contains("no such device") || lower.contains("doesn't exist") {
        let available = list_interfaces()
            .map(|interfaces| {
                interfaces
                    .into_iter()
                    .map(|info| info.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_else(|error| error.to_string());
        LiveError::NoSuchInterface {
            interface: interface.to_string(),
            available,
        }
    } else if lower.contains("permission") || lower.contains("not permitted") {
        LiveError::PermissionDenied {
            interface: interface.to_string(),
            message,
        }
    } else {
        LiveError::Open {
            interface: interface.to_string(),
            message,
        }
    }
}

/// How many bytes past a packet's captured data the next packet's ring
/// header and first bytes start, at most: TPACKET_V3 stores packets one
/// after another in a block, each behind a header of about 80 bytes.
const NEXT_PACKET_SPAN: usize = 192;

/// Starts loading the bytes after `data` into the cache: in libpcap's
/// TPACKET_V3 ring that is the next packet's header and its link and
/// network headers, which the kernel has just written from another core.
/// Asked while this packet is keyed, they are on their way when libpcap
/// and the parser reach them. A hint: nothing is read, whatever lies there.
#[cfg(target_arch = "x86_64")]
#[inline]
fn prefetch_next_packet(data: &[u8]) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    let end = data.as_ptr_range().end.cast::<i8>();
    for offset in (0..=NEXT_PACKET_SPAN).step_by(64) {
        // SAFETY: a prefetch never faults and has no effect on memory, so
        // the address need not be valid; SSE is baseline on x86_64.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(end.wrapping_add(offset)) };
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn prefetch_next_packet(_: &[u8]) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_differences_survive_the_32_bit_wrap_of_libpcap_counters() {
        let earlier = CaptureStats {
            received: u64::from(u32::MAX) - 1,
            dropped: 5,
            if_dropped: 0,
        };
        let now = CaptureStats {
            received: 3,
            dropped: 7,
            if_dropped: 0,
        };
        assert_eq!(
            now.since(&earlier),
            CaptureStats {
                received: 5,
                dropped: 2,
                if_dropped: 0
            }
        );
    }

    #[test]
    fn a_raised_stop_request_ends_the_wait_on_an_idle_interface() {
        let settings = LiveSettings {
            interface: "lo".to_string(),
            // No packet is that short: the ring stays empty.
            filter: Some("less 1".to_string()),
            snaplen: 65535,
            promisc: false,
            buffer_size: 1 << 20,
            read_pause: Duration::from_millis(50),
        };
        let mut capture = match LiveCapture::open(&settings) {
            Ok(capture) => capture,
            Err(LiveError::PermissionDenied { .. }) => {
                eprintln!("SKIP: no capture privilege here");
                return;
            }
            Err(error) => panic!("cannot open lo: {error}"),
        };
        let stop = crate::actors::stop::StopFlag::new().expect("eventfd");
        stop.raise();
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // The first read finds the ring empty; the second waits.
            for _ in 0..2 {
                let handed =
                    capture.dispatch(16, Duration::from_secs(3600), stop.wake_fd(), |_| {});
                assert_eq!(handed.expect("read"), 0);
            }
            done.send(()).expect("the test waits");
        });
        finished
            .recv_timeout(Duration::from_secs(60))
            .expect("the raised request ended the hour-long wait");
    }

    #[test]
    fn a_missing_interface_is_named_with_the_ones_that_exist() {
        let settings = LiveSettings {
            interface: "nosuchif0".to_string(),
            filter: None,
            snaplen: 65535,
            promisc: false,
            buffer_size: 1 << 20,
            read_pause: Duration::from_millis(50),
        };
        match LiveCapture::open(&settings) {
            Err(LiveError::NoSuchInterface {
                interface,
                available,
            }) => {
                assert_eq!(interface, "nosuchif0");
                assert!(available.contains("lo"), "{available}");
            }
            Err(LiveError::PermissionDenied { .. }) => {
                eprintln!("SKIP: no capture privilege here");
            }
            other => panic!("expected NoSuchInterface, got {:?}", other.err()),
        }
    }
}
