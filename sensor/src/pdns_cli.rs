//! passivedns's capture flags shared by `d4-passivedns` and `d4-sensor` (spec
//! `pdns.md` §5.1), turned into engine, format and capture settings, plus the two
//! line sinks: log files (`-l`/`-L`) and a byte buffer for D4 type-8 packets.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::capture::cache::CacheOptions;
use crate::capture::dns::TypeFilter;
use crate::capture::line::{ClientIp, Fields, LineFormat, PdnsLine};
use crate::capture::pcapio::{self, CaptureSource, DEFAULT_BPF};
use crate::capture::{EngineOptions, LineSink};

/// Client address privacy mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Privacy {
    /// Print it as captured.
    Keep,
    /// Print 0.0.0.0 / ::.
    Drop,
    /// Print a keyed hash pseudonym (`--hash-key`).
    Hash,
}

/// Capture and output flags of passivedns.
#[derive(Debug, Clone, clap::Args)]
pub struct PdnsFlags {
    /// Live capture on this interface (default: the first device).
    #[arg(short = 'i')]
    pub iface: Option<String>,
    /// Read this pcap file.
    #[arg(short = 'r', conflicts_with = "iface")]
    pub read: Option<PathBuf>,
    /// BPF filter.
    #[arg(short = 'b', default_value = DEFAULT_BPF)]
    pub bpf: String,
    /// Field delimiter.
    #[arg(short = 'd', default_value = "||")]
    pub delimiter: String,
    /// Fields to print (letters of HSMcsCQTAtnphLlwW; order irrelevant).
    #[arg(short = 'f', default_value = Fields::DEFAULT)]
    pub fields: String,
    /// RR types (46CDNPRSTFOMnLdHI) and error rcodes (fsxoryetaz) to log.
    #[arg(short = 'X', default_value = TypeFilter::DEFAULT)]
    pub types: String,
    /// Seconds between prints of the same unchanged record.
    #[arg(short = 'P', default_value_t = 86_400)]
    pub print_interval: u64,
    /// Seconds a record stays cached without being seen.
    #[arg(short = 'C', default_value_t = 43_200)]
    pub cache_time: u64,
    /// Soft memory limit of the cache in MB.
    #[arg(short = 'S', default_value_t = 256)]
    pub mem_mb: usize,
    /// Value of the `h` field (default: the host name).
    #[arg(short = 'H')]
    pub hostname: Option<String>,
    /// Do not put the interface in promiscuous mode.
    #[arg(short = 'N')]
    pub no_promisc: bool,
    /// Client address privacy for sharing: keep, drop or hash.
    #[arg(long = "client-ip", value_enum, default_value = "keep")]
    pub client_ip: Privacy,
    /// Key of `--client-ip hash` (a random per-run key when absent).
    #[arg(long = "hash-key")]
    pub hash_key: Option<String>,
    /// With `-X d`, log NSEC3PARAM answers too (passivedns 1.2.1 never logs them).
    #[arg(long = "nsec3param")]
    pub nsec3param: bool,
}

impl PdnsFlags {
    /// Engine settings; unknown `-X` letters are logged as passivedns prints them.
    pub fn engine_options(&self) -> EngineOptions {
        let (mut filter, unknown) = TypeFilter::parse(&self.types);
        for c in unknown {
            tracing::warn!("[*] Unknown DNS flag '{c}'");
        }
        if self.nsec3param {
            filter.log_nsec3param();
        }
        EngineOptions {
            filter,
            cache: CacheOptions {
                print_interval: self.print_interval,
                cache_time: self.cache_time,
                mem_limit: self.mem_mb.saturating_mul(1 << 20),
            },
            dns_port_only: self.bpf == DEFAULT_BPF,
        }
    }

    /// Line format settings.
    pub fn line_format(&self) -> LineFormat {
        let (fields, unknown) = Fields::parse(&self.fields);
        for c in unknown {
            tracing::warn!("[*] Unknown field '{c}'");
        }
        let hostname = self.hostname.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default()
        });
        let client_ip = match self.client_ip {
            Privacy::Keep => ClientIp::Keep,
            Privacy::Drop => ClientIp::Drop,
            Privacy::Hash => ClientIp::Hash(match &self.hash_key {
                Some(k) => k.as_bytes().to_vec(),
                None => uuid::Uuid::new_v4().as_bytes().to_vec(),
            }),
        };
        LineFormat {
            fields,
            delimiter: self.delimiter.clone(),
            hostname,
            client_ip,
        }
    }

    /// The capture source (`-r`, `-i`, or the first device).
    pub fn source(&self) -> anyhow::Result<CaptureSource> {
        if let Some(f) = &self.read {
            return Ok(CaptureSource::File(f.clone()));
        }
        let iface = match &self.iface {
            Some(i) => i.clone(),
            None => pcapio::default_device()?,
        };
        Ok(CaptureSource::Live {
            iface,
            promisc: !self.no_promisc,
        })
    }
}

/// Answer lines to one writer and error lines to another (or the same).
pub struct FileSink {
    fmt: LineFormat,
    /// JSON for answers (`-j`) and for error records (`-J`).
    pub json: (bool, bool),
    answers: Box<dyn Write + Send>,
    errors: Option<Box<dyn Write + Send>>,
    buf: String,
    last_flush: Instant,
}

impl FileSink {
    /// `errors = None` writes error records to the answer writer.
    pub fn new(
        fmt: LineFormat,
        answers: Box<dyn Write + Send>,
        errors: Option<Box<dyn Write + Send>>,
    ) -> FileSink {
        FileSink {
            fmt,
            json: (false, false),
            answers,
            errors,
            buf: String::new(),
            last_flush: Instant::now(),
        }
    }
}

impl LineSink for FileSink {
    fn line(&mut self, line: &PdnsLine, error: bool) -> std::io::Result<()> {
        self.buf.clear();
        if (error && self.json.1) || (!error && self.json.0) {
            self.fmt.write_json(line, &mut self.buf);
        } else {
            self.fmt.write(line, &mut self.buf);
        }
        match (&mut self.errors, error) {
            (Some(w), true) => w.write_all(self.buf.as_bytes())?,
            _ => self.answers.write_all(self.buf.as_bytes())?,
        }
        // Trickling live traffic must not sit in the buffer.
        if self.last_flush.elapsed() > Duration::from_secs(1) {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.last_flush = Instant::now();
        self.answers.flush()?;
        if let Some(w) = &mut self.errors {
            w.flush()?;
        }
        Ok(())
    }
}

/// Lines packed into signed D4 packets (type 8) for the sender. Lines are buffered up
/// to `snaplen` and sent when the buffer is full, when the capture is idle (pcap
/// timeout) or at least once a second, so no record waits long or is cut.
pub struct D4Sink {
    fmt: LineFormat,
    chunker: crate::packetizer::Chunker,
    emitter: crate::source::Emitter,
    buf: String,
    snaplen: usize,
    last_flush: Instant,
    payloads: Vec<Vec<u8>>,
    handle: tokio::runtime::Handle,
}

impl D4Sink {
    /// A sink feeding `emitter` with payloads of at most `snaplen` bytes. Must be
    /// created inside the runtime; used from a blocking thread.
    pub fn new(fmt: LineFormat, emitter: crate::source::Emitter, snaplen: usize) -> D4Sink {
        D4Sink {
            fmt,
            chunker: crate::packetizer::Chunker::new(snaplen, true),
            emitter,
            buf: String::new(),
            snaplen,
            last_flush: Instant::now(),
            payloads: Vec::new(),
            handle: tokio::runtime::Handle::current(),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        let ts = crate::packetizer::now_secs();
        for p in self.payloads.drain(..) {
            let pkt = self.emitter.signer.packet(self.emitter.data_type, ts, &p);
            self.emitter
                .tx
                .blocking_send(&self.handle, pkt)
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the D4 sender stopped")
                })?;
        }
        Ok(())
    }
}

impl LineSink for D4Sink {
    fn line(&mut self, line: &PdnsLine, _error: bool) -> std::io::Result<()> {
        self.fmt.write(line, &mut self.buf);
        if self.buf.len() >= self.snaplen || self.last_flush.elapsed() > Duration::from_secs(1) {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.last_flush = Instant::now();
        if self.buf.is_empty() {
            return Ok(());
        }
        crate::stats::Stats::add(&self.emitter.stats.source_bytes, self.buf.len() as u64);
        let text = std::mem::take(&mut self.buf);
        self.chunker.push(text.as_bytes(), &mut self.payloads);
        self.chunker.finish(&mut self.payloads);
        self.send()
    }
}
