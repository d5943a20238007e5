//! The D4 type table for the web (architecture `format/type.json`, server spec §1.5):
//! type number → description, for badges, charts and the accepted-types card, read from
//! the one registry [`d4_core::proto::REGISTRY`]. Served as `/static/json/type.json` in
//! upstream's shape.

use d4_core::proto::{DataType, TypeInfo, REGISTRY};
use serde::Serialize;

/// One row of `type.json`: `{"type": <n>, "description": "..."}`.
#[derive(Debug, Clone, Copy, Serialize)]
struct TypeRow {
    /// Type number.
    #[serde(rename = "type")]
    ty: u8,
    /// Description.
    description: &'static str,
}

/// Upstream's text for a type missing from the table.
pub(crate) const UNKNOWN: &str = "Please update your web server";

/// Description of a type number (given as text), or [`UNKNOWN`].
pub(crate) fn describe(ty: &str) -> String {
    ty.trim()
        .parse::<u32>()
        .ok()
        .and_then(lookup)
        .map(|t| t.description.to_string())
        .unwrap_or_else(|| UNKNOWN.to_string())
}

/// The registry entry of a type number; `None` for a type the stack does not know.
pub(crate) fn lookup(ty: u32) -> Option<&'static TypeInfo> {
    DataType(u8::try_from(ty).ok()?).info()
}

/// Comma-separated list of known types, for error messages.
pub(crate) fn known_list() -> String {
    REGISTRY
        .iter()
        .map(|t| t.ty.0.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `type.json` as upstream serves it.
pub(crate) fn type_json() -> String {
    let rows: Vec<TypeRow> = REGISTRY
        .iter()
        .map(|t| TypeRow {
            ty: t.ty.0,
            description: t.description,
        })
        .collect();
    serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_and_unknowns() {
        assert_eq!(describe("8"), "passivedns CSV stream");
        assert_eq!(describe("99"), UNKNOWN);
        assert_eq!(describe("x"), UNKNOWN);
        assert_eq!(describe("300"), UNKNOWN);
        assert!(type_json().contains("\"type\": 254"));
        assert!(
            type_json().starts_with("[\n  {\n    \"type\": 0,\n    \"description\": \"reserved\"")
        );
        assert!(lookup(254).is_some() && lookup(9).is_none());
    }
}
