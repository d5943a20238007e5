//! The extended-type modules (upstream `workers_2/meta_types_modules/`, spec §4.3):
//! what the 254 data of a session becomes, chosen by the meta header's `type`. The data
//! is split into `\n`-separated elements ([`LineBuffer`]); then:
//!
//! | `type` | raw data saved | queued item |
//! |---|---|---|
//! | any other (default handler) | rotating `.txt` files | each element |
//! | `maltrail` | no | each element |
//! | `ja3-jl` ([`super::ja3`]) | no | path of the element's JSON file |
//! | `filewatcher`, `filewatcherjson` ([`super::filewatcher`]) | no | path of the element's file |
//!
//! Every module that saves elements goes through [`super::files::save_element`].
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;

use bytes::Bytes;
use serde_json::Value;

use super::filewatcher::{self, FileError, FileOptions, OptionError};
use super::ja3::{self, Ja3Error};
use super::lines::{LineBuffer, MAX_LINE};

/// Largest element of the file modules: a file of up to 48 MiB, base64-encoded. A
/// longer element is dropped whole (a piece of a file is no file).
pub(crate) const MAX_FILE_ELEMENT: usize = 64 * 1024 * 1024;

/// How the 254 data of one session is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Module {
    /// `MetaTypesDefault`: raw data saved, elements queued.
    Default,
    /// `maltrail`: elements queued, nothing saved.
    Maltrail,
    /// `ja3-jl`: each element saved with its certificates, its path queued.
    Ja3,
    /// `filewatcher`: each element base64-decoded and saved, its path queued.
    FileWatcher(FileOptions),
    /// `filewatcherjson`: each element saved as is, its path queued.
    FileWatcherJson,
}

/// Why an element produced no queue item.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ElementError {
    /// ja3-jl.
    #[error(transparent)]
    Ja3(#[from] Ja3Error),
    /// filewatcher, filewatcherjson.
    #[error(transparent)]
    File(#[from] FileError),
}

impl Module {
    /// The module of extended type `ext`, configured from its meta `header`.
    pub(crate) fn of(ext: &str, header: &Value) -> Result<Module, OptionError> {
        Ok(match ext {
            "maltrail" => Module::Maltrail,
            "ja3-jl" => Module::Ja3,
            "filewatcher" => Module::FileWatcher(FileOptions::from_header(header)?),
            "filewatcherjson" => Module::FileWatcherJson,
            _ => Module::Default,
        })
    }

    /// Whether the raw data is saved to rotating `.txt` files (only the default handler).
    pub(crate) fn keeps_raw_file(&self) -> bool {
        *self == Module::Default
    }

    /// The element splitter: files may be long and are dropped whole when too long;
    /// lines are cut at [`MAX_LINE`] as upstream's default handler did.
    pub(crate) fn line_buffer(&self) -> LineBuffer {
        match self {
            Module::FileWatcher(_) | Module::FileWatcherJson => {
                LineBuffer::dropping(MAX_FILE_ELEMENT)
            }
            _ => LineBuffer::new(MAX_LINE),
        }
    }

    /// Whether each element is saved and its path queued (else the element is queued).
    pub(crate) fn saves_elements(&self) -> bool {
        matches!(
            self,
            Module::Ja3 | Module::FileWatcher(_) | Module::FileWatcherJson
        )
    }

    /// Whether the unfinished element at the end of a session is still used. A file cut
    /// by the end of its session is incomplete, so the file modules drop it (as
    /// upstream did with every module); a line is queued as it is.
    pub(crate) fn completes_last_element(&self) -> bool {
        !matches!(self, Module::FileWatcher(_) | Module::FileWatcherJson)
    }

    /// The queue item of one element of sensor `sensor`: the element itself, or the
    /// path of the file it was saved to under `data`. Blocking file I/O for the modules
    /// that save ([`Self::saves_elements`]): run those off the async workers.
    pub(crate) fn queue_item(
        &self,
        data: &Path,
        sensor: &str,
        element: Bytes,
    ) -> Result<Bytes, ElementError> {
        let now = chrono::Local::now();
        let path = match self {
            Module::Default | Module::Maltrail => return Ok(element),
            Module::Ja3 => ja3::save(data, &element)?,
            Module::FileWatcher(opts) => filewatcher::save_file(data, sensor, opts, &element, now)?,
            Module::FileWatcherJson => filewatcher::save_json(data, sensor, &element, now)?,
        };
        Ok(Bytes::from(path.to_string_lossy().into_owned()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn modules_by_extended_type() {
        let h = serde_json::json!({"type": "x", "compress": true});
        assert_eq!(Module::of("d4-telemetry", &h).unwrap(), Module::Default);
        assert_eq!(Module::of("maltrail", &h).unwrap(), Module::Maltrail);
        assert_eq!(Module::of("ja3-jl", &h).unwrap(), Module::Ja3);
        assert_eq!(
            Module::of("filewatcherjson", &h).unwrap(),
            Module::FileWatcherJson
        );
        let Module::FileWatcher(o) = Module::of("filewatcher", &h).unwrap() else {
            panic!("not filewatcher");
        };
        assert!(o.compress);
        let bad = serde_json::json!({"extension": "a/b"});
        assert!(Module::of("filewatcher", &bad).is_err());
        let saving: Vec<bool> = ["x", "maltrail", "ja3-jl", "filewatcher", "filewatcherjson"]
            .iter()
            .map(|e| Module::of(e, &h).unwrap().saves_elements())
            .collect();
        assert_eq!(saving, [false, false, true, true, true]);
        assert!(Module::Default.keeps_raw_file() && !Module::Maltrail.keeps_raw_file());
    }

    #[test]
    fn queue_items_are_elements_or_saved_paths() {
        let dir = tempfile::tempdir().unwrap();
        let el = Bytes::from_static(b"{\"a\": 1}");
        let same = Module::Maltrail.queue_item(dir.path(), "u", el.clone());
        assert_eq!(same.unwrap(), el);
        let path = Module::FileWatcherJson
            .queue_item(dir.path(), "u", el.clone())
            .unwrap();
        let path = std::str::from_utf8(&path).unwrap();
        assert!(path.starts_with(&*dir.path().join("u/254").to_string_lossy()));
        assert_eq!(std::fs::read(path).unwrap(), el);
        let opts = FileOptions::from_header(&serde_json::json!({})).unwrap();
        let bad = Module::FileWatcher(opts).queue_item(dir.path(), "u", el);
        assert!(matches!(bad, Err(ElementError::File(FileError::Base64(_)))));
        assert!(!Module::FileWatcherJson.completes_last_element());
        assert!(Module::Ja3.completes_last_element());
    }
}
