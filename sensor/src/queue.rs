//! The bounded buffer between the sources and the sender: packets in memory up to
//! `mem_bytes`, then — only if a spool directory is configured — appended to a spool
//! file up to `disk_bytes`; when both are full the producers wait (backpressure).
//!
//! An element is one or more whole D4 packets, concatenated (a stream source queues a
//! few hundred KiB of packets at a time; the other sources one packet each).
//!
//! Order is kept: once something is on disk every new packet goes to disk too, and the
//! sender reads memory first, then the file. The file holds plain concatenated D4
//! packets (self-delimiting through their `size` field); it is truncated whenever it
//! has been read completely. A spool left by a previous run is sent first: its valid
//! prefix is kept and a torn last packet is cut off.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use d4_proto::{Header, HEADER_SIZE};
use tokio::sync::Notify;

/// File name of the spool inside the spool directory.
pub const SPOOL_FILE: &str = "d4-client.spool";

/// The queue is closed on the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the D4 sender stopped")]
pub struct Closed;

struct Disk {
    file: File,
    path: PathBuf,
    read_off: u64,
    write_off: u64,
    cap: u64,
}

impl Disk {
    fn pending(&self) -> u64 {
        self.write_off - self.read_off
    }

    fn open(dir: &Path, cap: u64) -> std::io::Result<Disk> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(SPOOL_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)?;
        let mut valid = 0usize;
        while let Some(h) = data.get(valid..).and_then(Header::parse) {
            if data.len() < valid + h.packet_len() {
                break;
            }
            valid += h.packet_len();
        }
        file.set_len(valid as u64)?;
        if valid > 0 {
            tracing::info!(path = %path.display(), bytes = valid, "Resending the spool of a previous run.");
        }
        Ok(Disk {
            file,
            path,
            read_off: 0,
            write_off: valid as u64,
            cap,
        })
    }

    fn append(&mut self, pkt: &[u8]) -> std::io::Result<()> {
        self.file.seek(SeekFrom::Start(self.write_off))?;
        self.file.write_all(pkt)?;
        self.write_off += pkt.len() as u64;
        Ok(())
    }

    fn pop(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        if self.pending() == 0 {
            return Ok(None);
        }
        let mut hdr = [0u8; HEADER_SIZE];
        self.file.seek(SeekFrom::Start(self.read_off))?;
        self.file.read_exact(&mut hdr)?;
        let len = Header::parse(&hdr).map_or(HEADER_SIZE, |h| h.packet_len());
        let mut pkt = hdr.to_vec();
        pkt.resize(len, 0);
        self.file
            .read_exact(pkt.get_mut(HEADER_SIZE..).unwrap_or_default())?;
        self.read_off += len as u64;
        if self.pending() == 0 {
            self.file.set_len(0)?;
            self.read_off = 0;
            self.write_off = 0;
        }
        Ok(Some(pkt))
    }
}

struct State {
    mem: VecDeque<Vec<u8>>,
    mem_bytes: usize,
    disk: Option<Disk>,
    senders: usize,
    receiver_gone: bool,
}

struct Inner {
    state: Mutex<State>,
    mem_cap: usize,
    not_empty: Notify,
    not_full: Notify,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Producer handle (cloneable); the queue closes when the last one is dropped.
pub struct QueueSender(Arc<Inner>);

/// Consumer handle; dropping it makes every producer fail with [`Closed`].
pub struct QueueReceiver(Arc<Inner>);

/// A queue with `mem_bytes` in memory and, with `spool = Some((dir, bytes))`, a spool file.
pub fn queue(
    mem_bytes: usize,
    spool: Option<(&Path, u64)>,
) -> std::io::Result<(QueueSender, QueueReceiver)> {
    let disk = spool.map(|(dir, cap)| Disk::open(dir, cap)).transpose()?;
    if let Some(d) = &disk {
        tracing::info!(path = %d.path.display(), max_bytes = d.cap, "Spooling to disk when the memory buffer is full.");
    }
    let inner = Arc::new(Inner {
        state: Mutex::new(State {
            mem: VecDeque::new(),
            mem_bytes: 0,
            disk,
            senders: 1,
            receiver_gone: false,
        }),
        mem_cap: mem_bytes.max(1),
        not_empty: Notify::new(),
        not_full: Notify::new(),
    });
    Ok((QueueSender(inner.clone()), QueueReceiver(inner)))
}

/// Outcome of one attempt to enqueue.
enum Push {
    Done,
    Full,
}

impl QueueSender {
    fn try_push(&self, pkt: &mut Option<Vec<u8>>) -> Result<Push, Closed> {
        let mut st = self.0.lock();
        if st.receiver_gone {
            return Err(Closed);
        }
        let Some(p) = pkt.take() else {
            return Ok(Push::Done);
        };
        let on_disk = st.disk.as_ref().is_some_and(|d| d.pending() > 0);
        if !on_disk && (st.mem.is_empty() || st.mem_bytes + p.len() <= self.0.mem_cap) {
            st.mem_bytes += p.len();
            st.mem.push_back(p);
        } else if let Some(d) = st
            .disk
            .as_mut()
            .filter(|d| d.pending() + p.len() as u64 <= d.cap)
        {
            if let Err(e) = d.append(&p) {
                tracing::error!(error = %e, path = %d.path.display(), "Spool write failed; waiting for memory.");
                *pkt = Some(p);
                return Ok(Push::Full);
            }
        } else {
            *pkt = Some(p);
            return Ok(Push::Full);
        }
        drop(st);
        self.0.not_empty.notify_one();
        Ok(Push::Done)
    }

    /// Enqueues an element (whole packets), waiting while memory and spool are full.
    pub async fn send(&self, pkt: Vec<u8>) -> Result<(), Closed> {
        let mut pkt = Some(pkt);
        loop {
            let wait = self.0.not_full.notified();
            match self.try_push(&mut pkt)? {
                Push::Done => return Ok(()),
                Push::Full => wait.await,
            }
        }
    }

    /// [`send`](Self::send) from a non-async thread inside the runtime's context.
    pub fn blocking_send(
        &self,
        handle: &tokio::runtime::Handle,
        pkt: Vec<u8>,
    ) -> Result<(), Closed> {
        handle.block_on(self.send(pkt))
    }
}

impl Clone for QueueSender {
    fn clone(&self) -> Self {
        self.0.lock().senders += 1;
        QueueSender(self.0.clone())
    }
}

impl Drop for QueueSender {
    fn drop(&mut self) {
        self.0.lock().senders -= 1;
        self.0.not_empty.notify_one();
    }
}

impl QueueReceiver {
    /// The next element without waiting (a spooled one comes back one packet at a time).
    pub fn try_recv(&mut self) -> Option<Vec<u8>> {
        let mut st = self.0.lock();
        let p = match st.mem.pop_front() {
            Some(p) => {
                st.mem_bytes -= p.len();
                Some(p)
            }
            None => match st.disk.as_mut().map(Disk::pop) {
                Some(Ok(p)) => p,
                Some(Err(e)) => {
                    tracing::error!(error = %e, "Spool read failed; its remaining packets are lost.");
                    if let Some(d) = st.disk.as_mut() {
                        d.read_off = d.write_off;
                    }
                    None
                }
                None => None,
            },
        };
        drop(st);
        if p.is_some() {
            self.0.not_full.notify_one();
        }
        p
    }

    /// The next element, waiting for one; `None` once every producer is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        let inner = self.0.clone();
        loop {
            let wait = inner.not_empty.notified();
            if let Some(p) = self.try_recv() {
                return Some(p);
            }
            if self.0.lock().senders == 0 {
                return None;
            }
            wait.await;
        }
    }
}

impl Drop for QueueReceiver {
    fn drop(&mut self) {
        self.0.lock().receiver_gone = true;
        self.0.not_full.notify_waiters();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use d4_proto::{encode_packet, DataType};

    fn pkt(i: u32) -> Vec<u8> {
        encode_packet(
            1,
            DataType(8),
            [1; 16],
            0,
            b"k",
            format!("line {i}\n").as_bytes(),
        )
    }

    #[tokio::test]
    async fn spills_to_disk_in_order_and_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut rx) = queue(200, Some((dir.path(), 1 << 20))).unwrap();
        for i in 0..100 {
            tx.send(pkt(i)).await.unwrap();
        }
        let spool = dir.path().join(SPOOL_FILE);
        assert!(
            std::fs::metadata(&spool).unwrap().len() > 0,
            "overflow went to disk"
        );
        drop(tx);
        let mut got = Vec::new();
        while let Some(p) = rx.recv().await {
            got.push(p);
        }
        assert_eq!(got, (0..100).map(pkt).collect::<Vec<_>>());
        assert_eq!(std::fs::metadata(&spool).unwrap().len(), 0);
    }

    #[tokio::test]
    async fn leftover_spool_is_sent_first_and_torn_tail_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut old = pkt(1);
        old.extend_from_slice(&pkt(2)[..65]);
        std::fs::write(dir.path().join(SPOOL_FILE), &old).unwrap();
        let (tx, mut rx) = queue(1000, Some((dir.path(), 1 << 20))).unwrap();
        tx.send(pkt(3)).await.unwrap();
        drop(tx);
        assert_eq!(
            rx.recv().await,
            Some(pkt(1)),
            "the previous run's packets go first"
        );
        assert_eq!(rx.recv().await, Some(pkt(3)));
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn full_queue_waits_and_closed_receiver_fails() {
        let (tx, rx) = queue(10, None).unwrap();
        tx.send(pkt(1)).await.unwrap();
        let blocked =
            tokio::time::timeout(std::time::Duration::from_millis(100), tx.send(pkt(2))).await;
        assert!(blocked.is_err(), "second packet waits for room");
        drop(rx);
        assert_eq!(tx.send(pkt(3)).await, Err(Closed));
    }
}
