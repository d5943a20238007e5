//! Harness for the request tests: a real redis-server (d4_testkit::Store), the app state
//! pointed at it, an in-process actix service, and a cookie-keeping client that logs in
//! through the real login form (CSRF token and all).

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{test, web};
use d4_core::config::ServerConfig;
use d4_testkit::Store;
use d4_web::auth::password;
use d4_web::store::users;
use d4_web::{AppState, Settings};

/// Password of the test accounts.
pub(crate) const PW: &str = "Passw0rd1234";

/// A running store and the state built on it.
pub(crate) struct Env {
    /// The store (killed on drop).
    pub store: Store,
    /// App state.
    pub state: web::Data<AppState>,
    /// Temp dir for DEFAULT_PASSWORD and data.
    pub dir: tempfile::TempDir,
}

/// server.conf text pointing every role at one store (stream on db 4 to keep it apart).
pub(crate) fn conf_text(port: u16, web_port: u16, dir: &std::path::Path) -> String {
    format!(
        "[Save_Directories]\nuse_default_save_directory = no\nsave_directory = {data}\n\
         [D4_Server]\nserver_mode = registration\nanalyzer_queues_max_size = 1000\n\
         tls_cert_file = {d}/server.crt\ntls_key_file = {d}/server.key\n\
         [Flask_Server]\nhost = 127.0.0.1\nport = {web_port}\n\
         [Redis_STREAM]\nhost = 127.0.0.1\nport = {port}\ndb = 4\n\
         [Redis_METADATA]\nhost = 127.0.0.1\nport = {port}\ndb = 0\n\
         [Redis_SERV]\nhost = 127.0.0.1\nport = {port}\ndb = 1\n\
         [Redis_ANALYZER]\nhost = 127.0.0.1\nport = {port}\ndb = 2\n\
         [Redis_CACHE]\nhost = 127.0.0.1\nport = {port}\ndb = 3\n",
        data = dir.join("data").display(),
        d = dir.display(),
    )
}

/// Starts a store and builds the state (None = redis-server missing outside CI).
pub(crate) async fn env() -> Option<Env> {
    env_with(|_| {}).await
}

/// [`env`] with the settings adjusted by `tweak` before the state is built.
pub(crate) async fn env_with(tweak: impl FnOnce(&mut Settings)) -> Option<Env> {
    let store = Store::start()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = ServerConfig::from_text(&conf_text(store.port, 7000, dir.path())).expect("conf");
    let mut settings = Settings::from_config(&cfg);
    settings.bcrypt_cost = 4;
    settings.login_jitter = false;
    settings.default_password_file = dir.path().join("DEFAULT_PASSWORD");
    tweak(&mut settings);
    let state = d4_web::build_state(&cfg, settings).await.expect("state");
    users::ensure_roles(&state.stores.serv)
        .await
        .expect("roles");
    Some(Env { store, state, dir })
}

impl Env {
    /// Creates a user with [`PW`] (no forced change) and the given role.
    pub(crate) async fn user(&self, id: &str, role: &str) -> String {
        let score = users::role_score(&self.state.stores.serv, role)
            .await
            .unwrap()
            .expect("role");
        let token = password::generate_token();
        let h = password::hash(PW, 4).unwrap();
        users::create_user(&self.state.stores.serv, id, &h, role, score, &token, false)
            .await
            .unwrap();
        token
    }

    /// A META command on the store.
    pub(crate) fn meta(&self, args: &[&str]) -> d4_testkit::Reply {
        self.store.cmd_db(0, args)
    }
}

/// A response with its body read.
pub(crate) struct Resp {
    /// Status.
    pub status: StatusCode,
    /// `Location` header, if any.
    pub location: Option<String>,
    /// `Content-Type`.
    pub content_type: String,
    /// Body text.
    pub body: String,
    /// Set-Cookie pairs.
    pub cookies: Vec<(String, String)>,
}

/// Extracts `name="csrf_token" value="..."` from a page.
pub(crate) fn csrf_of(body: &str) -> Option<String> {
    let i = body.find("name=\"csrf_token\" value=\"")? + 25;
    Some(body[i..].split('"').next()?.to_string())
}

/// An in-process client keeping the session cookie and CSRF token.
pub(crate) struct Client<S> {
    /// The service.
    pub app: S,
    /// Cookies to send.
    pub cookies: Vec<(String, String)>,
    /// Current CSRF token.
    pub csrf: String,
    /// Peer address used for requests.
    pub peer: std::net::SocketAddr,
}

/// Builds the app service for a state.
pub(crate) async fn service(
    state: &web::Data<AppState>,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    test::init_service(d4_web::app::app(state.clone())).await
}

impl<S, B> Client<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    /// A client without a session.
    pub(crate) fn new(app: S) -> Self {
        Client {
            app,
            cookies: Vec::new(),
            csrf: String::new(),
            peer: "127.0.0.1:40000".parse().unwrap(),
        }
    }

    async fn send(&mut self, req: test::TestRequest) -> Resp {
        let mut req = req.peer_addr(self.peer);
        for (k, v) in &self.cookies {
            req = req.cookie(actix_web::cookie::Cookie::new(k.clone(), v.clone()));
        }
        let resp = test::call_service(&self.app, req.to_request()).await;
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap_or("").to_string());
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("").to_string())
            .unwrap_or_default();
        let cookies: Vec<(String, String)> = resp
            .response()
            .cookies()
            .map(|c| (c.name().to_string(), c.value().to_string()))
            .collect();
        for (k, v) in &cookies {
            self.cookies.retain(|(n, _)| n != k);
            if !v.is_empty() {
                self.cookies.push((k.clone(), v.clone()));
            }
        }
        let body = test::read_body(resp).await;
        let body = String::from_utf8_lossy(&body).into_owned();
        if let Some(t) = csrf_of(&body) {
            self.csrf = t;
        }
        Resp {
            status,
            location,
            content_type,
            body,
            cookies,
        }
    }

    /// GET a path.
    pub(crate) async fn get(&mut self, path: &str) -> Resp {
        self.send(test::TestRequest::get().uri(path)).await
    }

    /// POST a form, adding the current CSRF token.
    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        let mut f: Vec<(&str, &str)> = form.to_vec();
        let csrf = self.csrf.clone();
        f.push(("csrf_token", &csrf));
        self.post_raw(path, &f).await
    }

    /// POST a form as given (no CSRF token added).
    pub(crate) async fn post_raw(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.send(test::TestRequest::post().uri(path).set_form(form))
            .await
    }

    /// POST with custom headers and raw body.
    pub(crate) async fn post_body(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Resp {
        let mut r = test::TestRequest::post()
            .uri(path)
            .set_payload(body.to_string());
        for (k, v) in headers {
            r = r.insert_header((*k, *v));
        }
        self.send(r).await
    }

    /// GET with headers.
    pub(crate) async fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut r = test::TestRequest::get().uri(path);
        for (k, v) in headers {
            r = r.insert_header((*k, *v));
        }
        self.send(r).await
    }

    /// Any method without body.
    pub(crate) async fn send_method(&mut self, m: actix_web::http::Method, path: &str) -> Resp {
        self.send(test::TestRequest::default().method(m).uri(path))
            .await
    }

    /// Logs in through the form; returns the login response.
    pub(crate) async fn login(&mut self, user: &str, pw: &str) -> Resp {
        self.get("/login").await;
        let r = self
            .post(
                "/login",
                &[("username", user), ("password", pw), ("next_page", "")],
            )
            .await;
        if r.status == StatusCode::FOUND {
            // Pick up the session's CSRF token from a page.
            let p = self.get("/change_password").await;
            assert!(
                p.status.is_success() || p.status == StatusCode::FOUND,
                "{}",
                p.status
            );
        }
        r
    }
}

/// The command line of the real `d4-web` binary for a `server.conf`, run in `dir`.
pub(crate) fn web_cmd(conf: &std::path::Path, dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_d4-web"));
    cmd.arg("-c")
        .arg(conf)
        .current_dir(dir)
        .env("D4_LOG", "info");
    cmd
}

/// A real `d4-web` serving TLS on a free port, with its own directory (certificate,
/// `server.conf`, `DEFAULT_PASSWORD`).
pub(crate) struct WebBin {
    /// The running binary.
    pub proc: d4_testkit::Proc,
    /// Its working directory.
    pub dir: tempfile::TempDir,
    /// Its `server.conf`.
    pub conf: std::path::PathBuf,
    /// Its HTTPS port.
    pub port: u16,
    /// The CA and server certificate it uses.
    pub certs: d4_testkit::Certs,
}

/// Starts `d4-web` over `store` and waits until it listens.
pub(crate) fn start_web_bin(store: &Store) -> WebBin {
    let certs = d4_testkit::Certs::generate();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(certs.cert(), dir.path().join("server.crt")).expect("cert");
    std::fs::copy(certs.key(), dir.path().join("server.key")).expect("key");
    let port = d4_testkit::free_port();
    let conf = dir.path().join("server.conf");
    std::fs::write(&conf, conf_text(store.port, port, dir.path())).expect("server.conf");
    let mut proc = d4_testkit::Proc::spawn("d4-web", web_cmd(&conf, dir.path()));
    assert!(
        proc.wait_for_output("d4-web listening on", std::time::Duration::from_secs(30)),
        "{}",
        proc.output()
    );
    WebBin {
        proc,
        dir,
        conf,
        port,
        certs,
    }
}

/// The first admin's password from `DEFAULT_PASSWORD` in `dir`.
pub(crate) fn default_password(dir: &std::path::Path) -> String {
    let text = std::fs::read_to_string(dir.join("DEFAULT_PASSWORD")).expect("DEFAULT_PASSWORD");
    text.lines()
        .find_map(|l| l.strip_prefix("password="))
        .expect("password= line")
        .to_string()
}
