//! Which worker family processes a D4 type, read from the one type registry
//! ([`d4_proto::REGISTRY`], `DataType::info().handler`), never guessed.
//!
//! A type the registry does not know, or one whose handler is [`Handler::None`], has no
//! worker: [`Kind::of`] says so ([`NoWorker`]) and `d4-workers --types` refuses it at
//! start. A session is only ever processed by the worker its type's handler names.
//!
//! The meta family is run under the header type (2): it reads the header stream and then
//! the extended-type data (254) of the same session, so 254 is not a family of its own.

use d4_proto::{DataType, Handler, REGISTRY};

use super::text::TextKind;

/// The worker family of one manager type (`session_uuid:<type>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// [`Handler::Lines`]: saved to rotating text files, lines queued (`text.rs`).
    Text(TextKind),
    /// [`Handler::Pcap`] of the given type: rotating capture files (`pcap.rs`).
    Pcap(u8),
    /// [`Handler::Meta`]: the type-2 header, then the 254 data (`meta.rs`).
    Meta,
}

/// Why a type has no worker family.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoWorker {
    /// Not in the type registry.
    #[error(
        "no worker for type {ty}: not a registered D4 type (available types: {})",
        available_text()
    )]
    Unknown {
        /// The type asked for.
        ty: u8,
    },
    /// Registered with [`Handler::None`].
    #[error(
        "no worker for type {ty} ({name}): d4-workers does not process it (available types: {})",
        available_text()
    )]
    NotProcessed {
        /// The type asked for.
        ty: u8,
        /// Its registry name.
        name: &'static str,
    },
    /// Read by the family of another type (254 by the meta family of type 2).
    #[error(
        "type {ty} ({name}) is read by the worker of type {family} (available types: {})",
        available_text()
    )]
    ReadBy {
        /// The type asked for.
        ty: u8,
        /// Its registry name.
        name: &'static str,
        /// The manager type whose family reads it.
        family: u8,
    },
}

impl Kind {
    /// The family that processes sessions of type `ty`, from the registry.
    pub fn of(ty: u8) -> Result<Kind, NoWorker> {
        let info = DataType(ty).info().ok_or(NoWorker::Unknown { ty })?;
        match info.handler {
            Handler::Lines => Ok(Kind::Text(TextKind::of(info))),
            Handler::Pcap => Ok(Kind::Pcap(ty)),
            Handler::Meta if info.ty == DataType::META_HEADER => Ok(Kind::Meta),
            Handler::Meta => Err(NoWorker::ReadBy {
                ty,
                name: info.name,
                family: DataType::META_HEADER.0,
            }),
            Handler::None => Err(NoWorker::NotProcessed {
                ty,
                name: info.name,
            }),
        }
    }

    /// The families of the given types, in order; the first type without one is an error.
    pub fn all_of(types: &[u8]) -> Result<Vec<Kind>, NoWorker> {
        types.iter().map(|t| Kind::of(*t)).collect()
    }

    /// The manager type: sessions are listed in `session_uuid:<type>`.
    pub fn ty(self) -> u8 {
        match self {
            Kind::Text(k) => k.ty(),
            Kind::Pcap(ty) => ty,
            Kind::Meta => DataType::META_HEADER.0,
        }
    }

    /// Stream types a session of this family uses (`stream:<type>:<session>`).
    pub fn streams(self) -> Vec<u8> {
        match self {
            Kind::Meta => vec![DataType::META_HEADER.0, DataType::EXTENDED.0],
            k => vec![k.ty()],
        }
    }
}

/// Every manager type that has a worker family, with its registry name.
pub fn available() -> Vec<(u8, &'static str)> {
    REGISTRY
        .iter()
        .filter(|i| Kind::of(i.ty.0).is_ok())
        .map(|i| (i.ty.0, i.name))
        .collect()
}

fn available_text() -> String {
    available()
        .iter()
        .map(|(t, n)| format!("{t} ({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_FAMILIES;

    #[test]
    fn default_families_come_from_the_registry() {
        let kinds = Kind::all_of(DEFAULT_FAMILIES).unwrap();
        assert_eq!(
            kinds,
            vec![
                Kind::Text(TextKind::PassiveDns),
                Kind::Text(TextKind::LogLine),
                Kind::Meta,
                Kind::Text(TextKind::Dnscap),
                Kind::Pcap(1),
            ]
        );
        assert_eq!(
            kinds.iter().map(|k| k.ty()).collect::<Vec<_>>(),
            DEFAULT_FAMILIES
        );
        assert_eq!(Kind::Meta.streams(), vec![2, 254]);
        assert_eq!(Kind::Text(TextKind::PassiveDns).streams(), vec![8]);
    }

    #[test]
    fn types_without_a_worker_are_refused_by_name() {
        assert_eq!(Kind::of(9), Err(NoWorker::Unknown { ty: 9 }));
        assert!(matches!(
            Kind::of(6),
            Err(NoWorker::NotProcessed { ty: 6, .. })
        ));
        assert!(matches!(
            Kind::of(0),
            Err(NoWorker::NotProcessed { ty: 0, .. })
        ));
        assert!(matches!(
            Kind::of(254),
            Err(NoWorker::ReadBy { family: 2, .. })
        ));
        let msg = Kind::all_of(&[8, 77]).unwrap_err().to_string();
        assert!(msg.contains("type 77"), "{msg}");
        assert!(
            msg.contains("1 (pcap), 2 (meta-header), 3 (log-line), 4 (dnscap), 8 (passivedns)"),
            "{msg}"
        );
    }
}
