//! A `D4_HOME` for `LAUNCH.sh`, shared by the tutorial and README tests: the sample
//! configuration on free ports, the launcher run in it with this build's binaries, and its
//! logs for failure messages.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::{free_port, target_dir, workspace_root};

/// A temporary `D4_HOME` with `conf/` written from the samples.
pub struct LaunchHome {
    dir: tempfile::TempDir,
    /// `[D4_Server] server_port`.
    pub d4_port: u16,
    /// `[Flask_Server] port`.
    pub web_port: u16,
    /// `[Redis_STREAM] port`.
    pub stream_port: u16,
    /// The metadata store's port (`[Redis_METADATA]` and the other roles on it).
    pub meta_port: u16,
    /// The passive DNS store's port (`analyzer.conf` `[store]`).
    pub pdns_port: u16,
    /// `COF_PORT` of `launch.conf`.
    pub cof_port: u16,
}

impl LaunchHome {
    /// Writes `conf/server.conf` (the sample on free ports, then `edit_server`),
    /// `conf/analyzer.conf` and `conf/launch.conf` for the store server `store`
    /// (`d4-kv`, `redis-server` or `external`).
    pub fn new(store: &str, edit_server: impl FnOnce(String) -> String) -> LaunchHome {
        let h = LaunchHome {
            dir: tempfile::tempdir().expect("tempdir"),
            d4_port: free_port(),
            web_port: free_port(),
            stream_port: free_port(),
            meta_port: free_port(),
            pdns_port: free_port(),
            cof_port: free_port(),
        };
        let root = workspace_root();
        let conf = h.path().join("conf");
        std::fs::create_dir_all(&conf).expect("conf dir");
        let server = std::fs::read_to_string(root.join("conf/server.conf.sample"))
            .expect("server.conf.sample")
            .replace(
                "server_port = 4443",
                &format!("server_port = {}", h.d4_port),
            )
            .replace("port = 7000", &format!("port = {}", h.web_port))
            .replace("port = 6379", &format!("port = {}", h.stream_port))
            .replace("port = 6380", &format!("port = {}", h.meta_port));
        std::fs::write(conf.join("server.conf"), edit_server(server)).expect("server.conf");
        let analyzer = std::fs::read_to_string(root.join("conf/analyzer.conf.sample"))
            .expect("analyzer.conf.sample")
            .replace(
                "d4-server = 127.0.0.1:6380",
                &format!("d4-server = 127.0.0.1:{}", h.meta_port),
            )
            + &format!("\n[store]\nhost = 127.0.0.1\nport = {}\n", h.pdns_port);
        std::fs::write(conf.join("analyzer.conf"), analyzer).expect("analyzer.conf");
        std::fs::write(
            conf.join("launch.conf"),
            format!("STORE_SERVER={store}\nCOF_PORT={}\n", h.cof_port),
        )
        .expect("launch.conf");
        h
    }

    /// The `D4_HOME` directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `LAUNCH.sh ARGS` for this home with this build's binaries, stdin closed.
    pub fn launcher(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(workspace_root().join("LAUNCH.sh"));
        cmd.args(args)
            .env("D4_HOME", self.path())
            .env("D4_BIN", target_dir())
            .stdin(Stdio::null());
        cmd
    }

    /// The last `lines` lines of every log under `logs/`, for failure messages.
    pub fn logs(&self, lines: usize) -> String {
        let mut all = String::new();
        if let Ok(dir) = std::fs::read_dir(self.path().join("logs")) {
            for e in dir.flatten() {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let all_lines: Vec<&str> = text.lines().collect();
                let tail = &all_lines[all_lines.len().saturating_sub(lines)..];
                all += &format!("----- {} -----\n{}\n", e.path().display(), tail.join("\n"));
            }
        }
        all
    }
}
