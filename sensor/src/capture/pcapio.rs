//! The only capture stage with I/O: frames from a live interface or a pcap file
//! (libpcap), filtered with BPF, fed to the [`Engine`] until the file ends or `stop`
//! is set. Live captures use snaplen 65535 (passivedns's 1600 drops large EDNS
//! answers), a 500 ms buffer timeout and non-blocking reads; the sink is flushed
//! whenever no packet is waiting.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use super::line::Ts;
use super::{Engine, LineSink};

/// Default BPF: passivedns's `port 53`, plus every VLAN-tagged frame (`port 53` misses
/// them, and libpcap's `vlan` offsets make nested expressions unreliable), plus IPv6
/// packets whose first next-header is neither TCP, UDP nor ICMPv6: libpcap's `port`
/// only looks at the header right after the fixed IPv6 header, so UDP or TCP behind
/// hop-by-hop, routing or destination options would never reach the decoder (passivedns
/// loses them). `vlan` comes last because libpcap shifts the offsets of every primitive
/// after it by the tag. With this default the engine keeps only port-53 segments itself
/// ([`super::EngineOptions::dns_port_only`]).
pub const DEFAULT_BPF: &str = "port 53 or (ip6 and not tcp and not udp and not icmp6) or vlan";

/// Pause of the live loop when no packet is waiting.
const IDLE_SLEEP: std::time::Duration = std::time::Duration::from_millis(20);

/// What to capture from.
#[derive(Debug, Clone)]
pub enum CaptureSource {
    /// A live interface (promiscuous unless asked otherwise).
    Live {
        /// Interface name.
        iface: String,
        /// Promiscuous mode.
        promisc: bool,
    },
    /// A pcap file.
    File(PathBuf),
}

/// Why the capture could not run.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// libpcap refused to open or filter.
    #[error("pcap {what}: {source}")]
    Pcap {
        /// What was being done.
        what: String,
        /// The error.
        source: pcap::Error,
    },
    /// The sink failed.
    #[error("output: {0}")]
    Sink(#[from] std::io::Error),
}

fn pcap_err(what: impl Into<String>) -> impl FnOnce(pcap::Error) -> CaptureError {
    let what = what.into();
    move |source| CaptureError::Pcap { what, source }
}

/// The first capture device, as passivedns picks it when `-i` is not given.
pub fn default_device() -> Result<String, CaptureError> {
    let dev = pcap::Device::lookup().map_err(pcap_err("device lookup"))?;
    dev.map(|d| d.name).ok_or_else(|| CaptureError::Pcap {
        what: "device lookup".into(),
        source: pcap::Error::PcapError("no capture device found".into()),
    })
}

/// Runs the capture to its end (file) or until `stop` (live); finishes the engine.
pub fn run(
    src: &CaptureSource,
    bpf: &str,
    engine: &mut Engine,
    sink: &mut dyn LineSink,
    stop: &AtomicBool,
) -> Result<(), CaptureError> {
    match src {
        CaptureSource::File(path) => {
            let mut cap = pcap::Capture::from_file(path)
                .map_err(pcap_err(format!("open {}", path.display())))?;
            if !bpf.is_empty() {
                cap.filter(bpf, true)
                    .map_err(pcap_err(format!("filter {bpf:?}")))?;
            }
            tracing::info!(file = %path.display(), "Reading from file.");
            pump(cap, engine, sink, stop)
        }
        CaptureSource::Live { iface, promisc } => {
            let cap = pcap::Capture::from_device(iface.as_str())
                .map_err(pcap_err(format!("device {iface}")))?
                .promisc(*promisc)
                .snaplen(65_535)
                .timeout(500)
                .immediate_mode(false)
                .open()
                .map_err(pcap_err(format!("open {iface}")))?
                // libpcap's read timeout does not fire on an idle Linux ring: without
                // non-blocking reads a quiet interface would ignore `stop` forever.
                .setnonblock()
                .map_err(pcap_err(format!("non-blocking {iface}")))?;
            let mut cap = cap;
            if !bpf.is_empty() {
                cap.filter(bpf, true)
                    .map_err(pcap_err(format!("filter {bpf:?}")))?;
            }
            tracing::info!(device = %iface, "Sniffing.");
            pump(cap, engine, sink, stop)
        }
    }
}

fn pump<T: pcap::Activated + ?Sized>(
    mut cap: pcap::Capture<T>,
    engine: &mut Engine,
    sink: &mut dyn LineSink,
    stop: &AtomicBool,
) -> Result<(), CaptureError> {
    let linktype = cap.get_datalink().0;
    while !stop.load(Ordering::Relaxed) {
        match cap.next_packet() {
            Ok(p) => {
                let ts = Ts {
                    sec: u64::try_from(p.header.ts.tv_sec).unwrap_or(0),
                    usec: u32::try_from(p.header.ts.tv_usec).unwrap_or(0),
                };
                engine.frame(linktype, ts, p.data, sink)?;
            }
            Err(pcap::Error::TimeoutExpired) => {
                sink.flush()?;
                std::thread::sleep(IDLE_SLEEP);
            }
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => {
                tracing::warn!(error = %e, "Capture read failed.");
                break;
            }
        }
    }
    if let Ok(s) = cap.stats() {
        if s.dropped > 0 || s.if_dropped > 0 {
            tracing::warn!(
                dropped = s.dropped,
                if_dropped = s.if_dropped,
                "libpcap dropped packets."
            );
        }
    }
    engine.finish(sink)?;
    Ok(())
}
