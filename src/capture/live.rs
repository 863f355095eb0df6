//! Live capture from a network interface through libpcap (the pcap crate).
//!
//! Owns opening the interface (snap length, promiscuous mode, kernel buffer,
//! BPF filter, nanosecond timestamps, a 50 ms ring block timeout), reading packets without ever blocking
//! longer than the caller allows, the kernel's drop counters, and listing
//! interfaces. Packets are handed over a ring's worth at a time
//! (`pcap_dispatch`), not one call per packet. The handle is non-blocking
//! and waited on with `poll(2)`, so the reader regains control at least
//! every `wait` even on an idle interface, and after each bounded dispatch
//! on a busy one: it can close windows on time and stop within a second.

use std::os::fd::AsRawFd;
use std::time::Duration;

use pcap::{Active, Capture, Device, Precision};

use crate::packet::LinkType;

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
            bad_timestamp_reported: false,
        })
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Hands every packet the ring holds, at most `limit` of them, to
    /// `each` in capture order, with one `pcap_dispatch` call; returns how
    /// many it handed over. 0 means the ring was empty: the next call first
    /// waits up to `wait` for a block. `limit` bounds the packets handed over
    /// per call, so the caller regains control after at most that many even
    /// when the ring never empties; 0 hands over nothing (and is taken for
    /// an empty ring). Errors name the interface and the packets read.
    pub fn dispatch(
        &mut self,
        limit: usize,
        wait: Duration,
        mut each: impl FnMut(RawPacket<'_>),
    ) -> Result<usize, LiveError> {
        if self.drained {
            if !self.wait_readable(wait)? {
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
            prefetch_next_packet(packet.data);
            each(RawPacket {
                link_type: *link_type,
                timestamp_ns,
                wire_len: packet.header.len,
                data: packet.data,
            });
        });
        match handed {
            Ok(0) => {
                self.drained = true;
                Ok(0)
            }
            Ok(handed) => Ok(handed),
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

    /// Waits until the handle has data or `wait` passes; true when readable.
    fn wait_readable(&self, wait: Duration) -> Result<bool, LiveError> {
        let mut poll_fd = libc::pollfd {
            fd: self.capture.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = libc::c_int::try_from(wait.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&mut poll_fd, 1, millis) };
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
        Ok(ready > 0)
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
    fn a_missing_interface_is_named_with_the_ones_that_exist() {
        let settings = LiveSettings {
            interface: "nosuchif0".to_string(),
            filter: None,
            snaplen: 65535,
            promisc: false,
            buffer_size: 1 << 20,
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
