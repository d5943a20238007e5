//! The one D4 type registry (spec `d4-core-server.md` §1.5, upstream `format/type.json`).
//!
//! Every place that knows something about a type number reads it here: the web's type
//! table, the sensor's line-based test, the workers' dispatch, the server's default
//! accepted types. A type missing from [`REGISTRY`] is unknown: [`DataType::info`]
//! returns `None` and each caller decides explicitly what that means (the server refuses
//! it unless an operator accepted it; the workers have no handler for it).
//!
//! Adding a type = one [`TypeInfo`] row here (and, if it needs its own processing, one
//! [`Handler`] variant with its worker file in `d4-workers`).

use crate::DataType;

/// Which worker family of `d4-workers` processes sessions of a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Handler {
    /// Payloads are newline-separated lines: saved to rotating files and queued one
    /// line per item (types 3, 4, 8).
    Lines,
    /// libpcap data: saved as rotating pcap files, file paths queued (type 1).
    Pcap,
    /// A meta header (type 2) announcing the extended type of the 254 data that follows.
    Meta,
    /// Not processed by `d4-workers` (diagnostic or reserved types).
    None,
}

/// What the stack knows about one D4 type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeInfo {
    /// The type number of the header's byte 1.
    pub ty: DataType,
    /// Short machine name (file and log naming).
    pub name: &'static str,
    /// Upstream's description (`format/type.json`), shown by the web.
    pub description: &'static str,
    /// Payloads are newline-separated records (a sensor never splits a line across
    /// packets unless it is longer than the snap length).
    pub line_based: bool,
    /// The worker family that processes its sessions.
    pub handler: Handler,
    /// In `server:accepted_type` of a fresh server (upstream's defaults).
    pub accepted_by_default: bool,
}

/// Every type the stack knows, in number order.
pub const REGISTRY: &[TypeInfo] = &[
    TypeInfo {
        ty: DataType(0),
        name: "reserved",
        description: "reserved",
        line_based: false,
        handler: Handler::None,
        accepted_by_default: false,
    },
    TypeInfo {
        ty: DataType::PCAP,
        name: "pcap",
        description: "pcap (libpcap 2.4)",
        line_based: false,
        handler: Handler::Pcap,
        accepted_by_default: true,
    },
    TypeInfo {
        ty: DataType::META_HEADER,
        name: "meta-header",
        description: "meta header (JSON)",
        line_based: false,
        handler: Handler::Meta,
        accepted_by_default: true,
    },
    TypeInfo {
        ty: DataType::LOG_LINE,
        name: "log-line",
        description: "generic log line",
        line_based: true,
        handler: Handler::Lines,
        accepted_by_default: false,
    },
    TypeInfo {
        ty: DataType::DNSCAP,
        name: "dnscap",
        description: "dnscap output",
        line_based: false,
        handler: Handler::Lines,
        accepted_by_default: true,
    },
    TypeInfo {
        ty: DataType(5),
        name: "pcapng",
        description: "pcapng (diagnostic)",
        line_based: false,
        handler: Handler::None,
        accepted_by_default: false,
    },
    TypeInfo {
        ty: DataType(6),
        name: "ndjson",
        description: "generic NDJSON or JSON lines",
        line_based: true,
        handler: Handler::None,
        accepted_by_default: false,
    },
    TypeInfo {
        ty: DataType(7),
        name: "yaf",
        description: "generic YAF (Yet Another Flowmeter)",
        line_based: false,
        handler: Handler::None,
        accepted_by_default: false,
    },
    TypeInfo {
        ty: DataType::PASSIVEDNS,
        name: "passivedns",
        description: "passivedns CSV stream",
        line_based: true,
        handler: Handler::Lines,
        accepted_by_default: true,
    },
    TypeInfo {
        ty: DataType::EXTENDED,
        name: "extended",
        description: "type defined by meta header (type 2)",
        line_based: true,
        handler: Handler::Meta,
        accepted_by_default: true,
    },
];

impl DataType {
    /// The registry entry of this type; `None` for a type the stack does not know.
    pub fn info(self) -> Option<&'static TypeInfo> {
        REGISTRY.iter().find(|t| t.ty == self)
    }

    /// Whether payloads of this type are newline-separated records (unknown: no).
    pub fn is_line_based(self) -> bool {
        self.info().is_some_and(|t| t.line_based)
    }
}

/// The types a fresh server accepts (`server:accepted_type`).
pub fn accepted_by_default() -> impl Iterator<Item = DataType> {
    REGISTRY
        .iter()
        .filter(|t| t.accepted_by_default)
        .map(|t| t.ty)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_in_number_order_without_duplicates() {
        assert!(REGISTRY.windows(2).all(|w| w[0].ty < w[1].ty));
    }

    #[test]
    fn upstream_defaults_and_descriptions() {
        let d: Vec<u8> = accepted_by_default().map(|t| t.0).collect();
        assert_eq!(d, [1, 2, 4, 8, 254]);
        assert_eq!(
            DataType::PASSIVEDNS.info().unwrap().description,
            "passivedns CSV stream"
        );
        assert_eq!(DataType(9).info(), None);
    }

    #[test]
    fn line_based_types_are_the_senders_3_6_8_254() {
        let lines: Vec<u8> = (0..=255u8)
            .filter(|t| DataType(*t).is_line_based())
            .collect();
        assert_eq!(lines, [3, 6, 8, 254]);
    }

    #[test]
    fn every_processed_type_has_one_handler() {
        let handler = |t: u8| DataType(t).info().map(|i| i.handler);
        assert_eq!(handler(1), Some(Handler::Pcap));
        assert_eq!(handler(3), Some(Handler::Lines));
        assert_eq!(handler(4), Some(Handler::Lines));
        assert_eq!(handler(8), Some(Handler::Lines));
        assert_eq!(handler(2), Some(Handler::Meta));
        assert_eq!(handler(100), None);
    }
}
