//! The D4 type table (architecture `format/type.json`, server spec §1.5): type number →
//! description, for badges, charts and the accepted-types card. Served as
//! `/static/json/type.json` in upstream's shape.

use serde::Serialize;

/// One known D4 type.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TypeInfo {
    /// Type number.
    #[serde(rename = "type")]
    pub ty: u32,
    /// Description.
    pub description: &'static str,
}

/// Every type the table knows.
pub const TYPES: &[TypeInfo] = &[
    TypeInfo {
        ty: 0,
        description: "reserved",
    },
    TypeInfo {
        ty: 1,
        description: "pcap (libpcap 2.4)",
    },
    TypeInfo {
        ty: 2,
        description: "meta header (JSON)",
    },
    TypeInfo {
        ty: 3,
        description: "generic log line",
    },
    TypeInfo {
        ty: 4,
        description: "dnscap output",
    },
    TypeInfo {
        ty: 5,
        description: "pcapng (diagnostic)",
    },
    TypeInfo {
        ty: 6,
        description: "generic NDJSON or JSON lines",
    },
    TypeInfo {
        ty: 7,
        description: "generic YAF (Yet Another Flowmeter)",
    },
    TypeInfo {
        ty: 8,
        description: "passivedns CSV stream",
    },
    TypeInfo {
        ty: 254,
        description: "type defined by meta header (type 2)",
    },
];

/// Upstream's text for a type missing from the table.
pub const UNKNOWN: &str = "Please update your web server";

/// Description of a type number (given as text), or [`UNKNOWN`].
pub fn describe(ty: &str) -> String {
    ty.trim()
        .parse::<u32>()
        .ok()
        .and_then(lookup)
        .map(|t| t.description.to_string())
        .unwrap_or_else(|| UNKNOWN.to_string())
}

/// The table entry of a type.
pub fn lookup(ty: u32) -> Option<TypeInfo> {
    TYPES.iter().copied().find(|t| t.ty == ty)
}

/// Comma-separated list of known types, for error messages.
pub fn known_list() -> String {
    TYPES
        .iter()
        .map(|t| t.ty.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `type.json` as upstream serves it.
pub fn type_json() -> String {
    serde_json::to_string_pretty(TYPES).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_and_unknowns() {
        assert_eq!(describe("8"), "passivedns CSV stream");
        assert_eq!(describe("99"), UNKNOWN);
        assert_eq!(describe("x"), UNKNOWN);
        assert!(type_json().contains("\"type\": 254"));
    }
}
