//! Why the ingest server drops a connection, with upstream's exact `Error` texts.
//!
//! Each rejection of spec §2.5/§2.6 is one variant. [`Reject::error_field`] is the value
//! written to `metadata_uuid:<uuid>` `Error` (the web shows it), `None` where upstream
//! writes nothing; `Display` is the log line.

use std::fmt;

/// A reason to abort a sensor connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// Peer IP in `blacklist_ip`.
    BlacklistedIp {
        /// Peer address as keyed.
        ip: String,
    },
    /// uuid in `blacklist_ip_by_uuid` (its IP gets blacklisted).
    BlacklistedIpByUuid {
        /// Sensor uuid.
        uuid: String,
    },
    /// uuid in `blacklist_uuid`.
    BlacklistedUuid {
        /// Sensor uuid.
        uuid: String,
    },
    /// Registration mode and uuid not in `registered_uuid`.
    NotRegistered {
        /// Sensor uuid.
        uuid: String,
    },
    /// `temp_blacklist_uuid:<uuid>` exists (kicked recently).
    TempBlacklisted,
    /// Payload larger than the limit.
    Oversize {
        /// Announced size.
        size: u32,
    },
    /// A worker flagged the session's data (`Error:IncorrectType`).
    IncorrectType,
    /// The header uuid is not a v4 uuid.
    InvalidUuid {
        /// The uuid as hex.
        uuid: String,
    },
    /// Type not in `server:accepted_type`.
    TypeNotAccepted {
        /// The type.
        ty: u8,
    },
    /// A session started with type 254 without a type-2 meta header.
    Type254First,
    /// Another live session has this uuid and type.
    Duplicate {
        /// The type.
        ty: u8,
    },
    /// The type changed mid-session (other than 2 → 254).
    TypeChange {
        /// Session type.
        old: u8,
        /// New header type.
        new: u8,
    },
    /// The uuid changed mid-session.
    UuidChange {
        /// New header uuid.
        new: String,
    },
    /// HMAC mismatch.
    BadHmac,
    /// The session stream holds `stream_max_size` unconsumed entries.
    StreamFull,
}

impl Reject {
    /// The `Error` field value upstream writes for this rejection, if any.
    pub fn error_field(&self) -> Option<String> {
        Some(match self {
            Reject::TempBlacklisted => "Error: This UUID is temporarily blacklisted".into(),
            Reject::Type254First => "Error: a type 2 packet must be sent, type=254".into(),
            Reject::Duplicate { ty } => {
                format!("Error: This UUID is using the same UUID for one type={ty}")
            }
            Reject::TypeChange { old, new } => {
                format!("Error: Unexpected type change type={old}, new type={new}")
            }
            Reject::UuidChange { new } => format!("Error: The uuid change, new_uuid={new}"),
            Reject::BadHmac => "Error: HMAC don't match".into(),
            Reject::StreamFull => "Error: stream exceed max entries limit".into(),
            _ => return None,
        })
    }

    /// Short machine-readable name for logs and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Reject::BlacklistedIp { .. } => "blacklisted_ip",
            Reject::BlacklistedIpByUuid { .. } => "blacklisted_ip_by_uuid",
            Reject::BlacklistedUuid { .. } => "blacklisted_uuid",
            Reject::NotRegistered { .. } => "not_registered",
            Reject::TempBlacklisted => "temp_blacklisted",
            Reject::Oversize { .. } => "oversize",
            Reject::IncorrectType => "incorrect_type",
            Reject::InvalidUuid { .. } => "invalid_uuid",
            Reject::TypeNotAccepted { .. } => "type_not_accepted",
            Reject::Type254First => "type_254_first",
            Reject::Duplicate { .. } => "duplicate",
            Reject::TypeChange { .. } => "type_change",
            Reject::UuidChange { .. } => "uuid_change",
            Reject::BadHmac => "bad_hmac",
            Reject::StreamFull => "stream_full",
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::BlacklistedIp { ip } => write!(f, "Blacklisted IP={ip}, connection closed"),
            Reject::BlacklistedIpByUuid { uuid } => {
                write!(f, "Blacklisted IP by UUID={uuid}, connection closed")
            }
            Reject::BlacklistedUuid { uuid } => {
                write!(f, "Blacklisted UUID={uuid}, connection closed")
            }
            Reject::NotRegistered { uuid } => {
                write!(f, "Not registered UUID={uuid}, connection closed")
            }
            Reject::Oversize { size } => write!(f, "Packet of {size} bytes exceeds the size limit"),
            Reject::IncorrectType => {
                f.write_str("Worker rejected the session data (Error:IncorrectType)")
            }
            Reject::InvalidUuid { uuid } => write!(f, "Invalid Header, uuid={uuid}"),
            Reject::TypeNotAccepted { ty } => write!(f, "Type not accepted, type={ty}"),
            other => match other.error_field() {
                Some(e) => f.write_str(&e),
                None => f.write_str(other.kind()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden: upstream's Error strings (spec §2.5, §2.6).
    #[test]
    fn error_fields_are_upstream_strings() {
        let cases = [
            (
                Reject::TempBlacklisted,
                "Error: This UUID is temporarily blacklisted",
            ),
            (
                Reject::Type254First,
                "Error: a type 2 packet must be sent, type=254",
            ),
            (
                Reject::Duplicate { ty: 8 },
                "Error: This UUID is using the same UUID for one type=8",
            ),
            (
                Reject::TypeChange { old: 8, new: 3 },
                "Error: Unexpected type change type=8, new type=3",
            ),
            (
                Reject::UuidChange { new: "ab".into() },
                "Error: The uuid change, new_uuid=ab",
            ),
            (Reject::BadHmac, "Error: HMAC don't match"),
            (Reject::StreamFull, "Error: stream exceed max entries limit"),
        ];
        for (r, s) in cases {
            assert_eq!(r.error_field().as_deref(), Some(s));
        }
        assert_eq!(
            Reject::BlacklistedUuid { uuid: "u".into() }.error_field(),
            None
        );
        assert_eq!(Reject::Oversize { size: 2 }.error_field(), None);
        assert_eq!(Reject::TypeNotAccepted { ty: 9 }.error_field(), None);
    }
}
