//! Types 2 and 254: the meta header and the extended-type data that follows it
//! (spec §4.3, default handler `MetaTypesDefault`).
//!
//! Header phase (`stream:2:<s>`): payloads are joined (`\n` bytes removed, as upstream)
//! until they parse as one JSON object with a string `type` — the extended type. It must
//! be in `server:accepted_extended_type`. The JSON is saved to
//! `<data>/<uuid>/254/YYYY/MM/DD/<ext>/<uuid>-YYYY-MM-DD-HHMMSS.json`.
//! Data phase (`stream:254:<s>`): the data is split into `\n`-separated elements and
//! handled by the extended type's module ([`Module`], `ext`): the default handler saves
//! the raw bytes to rotating `.txt` files next to the JSON (gzipped on rotation and at
//! the end) and queues each element; `maltrail` only queues them; `ja3-jl`,
//! `filewatcher` and `filewatcherjson` save each element to a file and queue its path.
//! A header whose module options are unusable is rejected like a bad header.
//!
//! The type-2 entries are kept (not `XDEL`ed) until the session ends, so a restarted
//! worker re-reads the header and knows the extended type again. A JSON syntax error
//! is reported at once (upstream waited forever) and the header is capped at
//! [`MAX_META_HEADER`] bytes (the Go client's limit).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tracing::{error, info, warn};

use super::entry::Entry;
use super::ext::Module;
use super::files::{self, Naming, RotatingFile, ROTATION_CYCLE};
use super::flow::{record_rejection, Flow};
use super::lines::{LineBuffer, MAX_LINE};
use crate::ctx::Ctx;
use d4_core::keys::{meta, stream};
use d4_core::queues::QueueKind;
use d4_core::store::{pipe, Cmd, StoreError};

/// Largest meta header accepted.
pub(crate) const MAX_META_HEADER: usize = 100_000;

/// One type-2/254 session.
pub(crate) struct MetaWorker {
    data: PathBuf,
    session: String,
    sensor: String,
    header: Vec<u8>,
    header_entries: u64,
    ext: Option<String>,
    file: Option<RotatingFile>,
    lines: LineBuffer,
    module: Module,
}

impl MetaWorker {
    /// A worker for `session` of `sensor`, saving under `data`.
    pub(crate) fn new(data: &Path, session: &str, sensor: &str) -> Self {
        MetaWorker {
            data: data.to_path_buf(),
            session: session.to_string(),
            sensor: sensor.to_string(),
            header: Vec::new(),
            header_entries: 0,
            ext: None,
            file: None,
            lines: LineBuffer::new(MAX_LINE),
            module: Module::Default,
        }
    }

    /// Stream type to read now.
    pub(crate) fn reading(&self) -> u8 {
        if self.ext.is_some() {
            254
        } else {
            2
        }
    }

    /// Entries of stream `ty` deliberately left in the store (the header entries).
    pub(crate) fn kept(&self, ty: u8) -> u64 {
        if ty == 2 {
            self.header_entries
        } else {
            0
        }
    }

    /// Sensor uuid.
    pub(crate) fn sensor(&self) -> &str {
        &self.sensor
    }

    /// Queues of the extended type, once known.
    pub(crate) fn queue_kind(&self) -> Option<QueueKind> {
        self.ext.clone().map(QueueKind::Extended)
    }

    /// Processes entries of `stream:<ty>:<s>`.
    pub(crate) async fn entries(
        &mut self,
        ctx: &Ctx,
        ty: u8,
        entries: &[Entry],
        out: &mut Vec<Bytes>,
    ) -> Flow {
        match (ty, self.ext.is_some()) {
            (2, false) => self.header_entries(ctx, entries).await,
            (254, true) => {
                self.data_entries(ctx, entries, out).await;
                Flow::Continue
            }
            _ => Flow::Continue,
        }
    }

    async fn header_entries(&mut self, ctx: &Ctx, entries: &[Entry]) -> Flow {
        for e in entries {
            self.header_entries += 1;
            self.header
                .extend(e.message.iter().filter(|b| **b != b'\n'));
            if self.header.len() > MAX_META_HEADER {
                return self.fail(ctx, "Incorrect JSON object").await;
            }
            match serde_json::from_slice::<serde_json::Value>(&self.header) {
                Ok(v) => return self.accept(ctx, v).await,
                Err(err) if err.is_eof() => continue,
                Err(_) => return self.fail(ctx, "Incorrect JSON object").await,
            }
        }
        Flow::Continue
    }

    async fn accept(&mut self, ctx: &Ctx, json: serde_json::Value) -> Flow {
        let Some(ext) = json
            .get("type")
            .and_then(|t| t.as_str())
            .map(str::to_string)
        else {
            return self.fail(ctx, "Incorrect JSON object").await;
        };
        let accepted = ctx
            .meta
            .query::<bool>(&Cmd::sismember(meta::ACCEPTED_EXTENDED_TYPE, ext.as_str()))
            .await;
        if !accepted.unwrap_or(false) {
            return self
                .fail(ctx, &format!("Unsupported extended_type: {ext}"))
                .await;
        }
        let module = match Module::of(&ext, &json) {
            Ok(m) => m,
            Err(e) => {
                warn!(session = %self.session, %ext, error = %e, "Unusable meta header option.");
                return self.fail(ctx, "Incorrect JSON object").await;
            }
        };
        if let Err(e) = self.register(ctx, &ext).await {
            warn!(session = %self.session, error = %e, "Cannot record the extended type.");
        }
        let now = chrono::Local::now();
        let naming = Naming {
            base: self.data.join(&self.sensor).join("254"),
            sub: Some(ext.clone()),
            uuid: self.sensor.clone(),
            suffix: "txt".into(),
        };
        if let Err(e) = save_json(&naming, now, &json) {
            warn!(session = %self.session, error = %e, "Cannot save the meta header.");
        }
        info!(session = %self.session, %ext, "Meta header accepted.");
        if module.keeps_raw_file() {
            self.file = Some(RotatingFile::new(naming, ROTATION_CYCLE));
        }
        // A tail restored from a previous run was fed before the header was known.
        let mut lines = module.line_buffer();
        lines.restore(self.lines.tail());
        self.lines = lines;
        self.module = module;
        self.ext = Some(ext);
        Flow::Continue
    }

    /// Records the session's extended type: STREAM and META pipelines at once.
    async fn register(&self, ctx: &Ctx, ext: &str) -> Result<(), StoreError> {
        let mut s = pipe();
        s.sadd(stream::active_connection_extended_type(&self.sensor), ext)
            .ignore()
            .hset(
                stream::MAP_SESSION_ACTIVE_EXTENDED_TYPE,
                self.session.as_str(),
                ext,
            )
            .ignore();
        let now = chrono::Local::now().timestamp().to_string();
        let key = meta::metadata_extended_type_by_uuid(&self.sensor, ext);
        let mut m = pipe();
        m.sadd(meta::all_extended_types_by_uuid(&self.sensor), ext)
            .ignore()
            .hset_nx(&key, meta::field::FIRST_SEEN, now.as_str())
            .ignore()
            .hset(&key, meta::field::LAST_SEEN, now.as_str())
            .ignore();
        let (a, b) = tokio::join!(ctx.stream.run::<()>(&s), ctx.meta.run::<()>(&m));
        a?;
        b
    }

    async fn data_entries(&mut self, ctx: &Ctx, entries: &[Entry], out: &mut Vec<Bytes>) {
        let Some(ext) = self.ext.clone() else { return };
        let mut elements = Vec::new();
        for e in entries {
            if let Some(file) = self.file.as_mut() {
                if let Err(err) = file.write(&e.message, files::split_after_last_newline) {
                    warn!(session = %self.session, error = %err, "Cannot save data to disk.");
                }
            }
            self.lines.push(&e.message, &mut elements);
        }
        if let Some(Err(err)) = self.file.as_mut().map(RotatingFile::flush) {
            warn!(session = %self.session, error = %err, "Cannot save data to disk.");
        }
        self.queue_items(elements, out).await;
        let now = chrono::Local::now().timestamp().to_string();
        let key = meta::metadata_extended_type_by_uuid(&self.sensor, &ext);
        let r = ctx
            .meta
            .query::<()>(&Cmd::hset(key, meta::field::LAST_SEEN, now))
            .await;
        if let Err(e) = r {
            warn!(session = %self.session, error = %e, "Cannot update last_seen.");
        }
    }

    /// The module's queue items of `elements` into `out`: the elements themselves, or
    /// (saved in a blocking task) the paths of their files. An element that cannot be
    /// saved is skipped; one warning per batch counts them.
    async fn queue_items(&self, elements: Vec<Bytes>, out: &mut Vec<Bytes>) {
        if !self.module.saves_elements() {
            out.extend(elements);
            return;
        }
        if elements.is_empty() {
            return;
        }
        let (module, data, sensor) = (self.module.clone(), self.data.clone(), self.sensor.clone());
        let saved = tokio::task::spawn_blocking(move || {
            elements
                .into_iter()
                .map(|e| module.queue_item(&data, &sensor, e))
                .collect::<Vec<_>>()
        })
        .await;
        let results = match saved {
            Ok(r) => r,
            Err(e) => {
                error!(session = %self.session, error = %e, "Saving elements failed: batch lost.");
                return;
            }
        };
        let mut skipped = 0u64;
        let mut first_error = None;
        for r in results {
            match r {
                Ok(item) => out.push(item),
                Err(e) => {
                    skipped += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            warn!(session = %self.session, skipped, error = %e, "Elements skipped.");
        }
    }

    /// Upstream `on_error`: flag the session for the server, write the Error field,
    /// drop the session's streams and sets.
    async fn fail(&mut self, ctx: &Ctx, msg: &str) -> Flow {
        warn!(session = %self.session, uuid = %self.sensor, "Meta header rejected: {msg}.");
        let s = &self.session;
        let error = format!("Error: Type=2, {msg}");
        let mut cleanup = pipe();
        for ty in [2u8, 254] {
            cleanup
                .srem(stream::session_uuid(ty), s.as_str())
                .ignore()
                .del(stream::stream(ty, s))
                .ignore();
        }
        cleanup
            .srem(stream::ENDED_SESSION, s.as_str())
            .ignore()
            .srem(stream::working_session_uuid(2), s.as_str())
            .ignore();
        let r = record_rejection(ctx, s, &self.sensor, &error, &cleanup).await;
        if let Err(e) = r {
            warn!(session = %s, error = %e, "Cannot record the meta header error.");
        }
        Flow::Abort
    }

    /// End of session: last line to `out`, last file gzipped (upstream left it plain).
    pub(crate) async fn finish(&mut self, _ctx: &Ctx, out: &mut Vec<Bytes>) -> std::io::Result<()> {
        if self.lines.forced > 0 {
            warn!(session = %self.session, elements = self.lines.forced, "Elements longer than the maximum were cut or dropped.");
        }
        if self.ext.is_some() {
            let tail: Vec<Bytes> = self.lines.take_tail().into_iter().collect();
            if self.module.completes_last_element() {
                self.queue_items(tail, out).await;
            } else if !tail.is_empty() {
                warn!(session = %self.session, "Unfinished last element of the session dropped.");
            }
        }
        match self.file.as_mut() {
            Some(f) => f.finish().await.map(|_| ()),
            None => Ok(()),
        }
    }

    /// Worker stop: files closed; the unfinished data line to save.
    pub(crate) async fn suspend(&mut self) -> std::io::Result<Option<Bytes>> {
        if let Some(f) = self.file.as_mut() {
            f.finish().await?;
        }
        Ok(self.lines.take_tail())
    }

    /// Restores an unfinished data line saved by a previous run.
    pub(crate) fn restore(&mut self, tail: &[u8]) {
        self.lines.restore(tail);
    }

    /// What [`Self::suspend`] would save now (taken before a batch).
    pub(crate) fn checkpoint(&self) -> Option<Bytes> {
        let t = self.lines.tail();
        (!t.is_empty()).then(|| Bytes::copy_from_slice(t))
    }
}

/// Writes the meta header as Python's `json.dumps` does (`", "` and `": "` separators).
fn save_json(
    naming: &Naming,
    now: chrono::DateTime<chrono::Local>,
    json: &serde_json::Value,
) -> std::io::Result<()> {
    let dir = naming.dir(now);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!(
        "{}-{}.json",
        naming.uuid,
        now.format("%Y-%m-%d-%H%M%S")
    ));
    let mut f = std::fs::File::create(path)?;
    f.write_all(python_json(json).as_bytes())
}

/// `json.dumps(v)` formatting: `{"a": 1, "b": [1, 2]}` (object keys sorted).
pub(crate) fn python_json(v: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match v {
        J::Array(a) => format!(
            "[{}]",
            a.iter().map(python_json).collect::<Vec<_>>().join(", ")
        ),
        J::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}: {}", J::String(k.clone()), python_json(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn json_is_written_like_python() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"type":"ja3-jl","tags":["tlp:white",1],"x":{"a":null}}"#)
                .unwrap();
        assert_eq!(
            python_json(&v),
            r#"{"tags": ["tlp:white", 1], "type": "ja3-jl", "x": {"a": null}}"#
        );
    }
}
