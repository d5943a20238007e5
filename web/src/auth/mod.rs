//! Authentication and authorisation (web spec §2).
//!
//! - [`password`]: bcrypt hashes (`$2b$`, Python-compatible), strength rule, generators.
//! - [`session`]: server-side sessions behind an opaque cookie, with a CSRF token each.
//! - [`guard`]: extractors that require a role (and a CSRF token for actions).
//! - [`login`]: lockout counters and the login check.
//! - [`token`]: REST API token authentication.
//! - [`bootstrap`]: the default accounts and `DEFAULT_PASSWORD` on first start.

pub mod bootstrap;
pub mod guard;
pub mod login;
pub mod password;
pub mod session;
pub mod token;

pub use guard::{Admin, AdminAction, LoginAction, LoginOnly, User, UserAction, Viewer};
pub use session::{Session, Sessions};
