//! SERV store (`Redis_SERV`, 6380 db 1): web users, roles and API tokens (web spec §2.1).

/// HASH user id → bcrypt hash.
pub const USER_ALL: &str = "user:all";
/// HASH API token → user id.
pub const USER_TOKENS: &str = "user:tokens";
/// ZSET role → privilege score (`admin`=1, `user`=2, `sensor_register`=20).
pub const ALL_ROLES: &str = "d4:all_role";

/// Fields of `user_metadata:<id>`.
pub mod field {
    /// Current API token.
    pub const TOKEN: &str = "token";
    /// Role name.
    pub const ROLE: &str = "role";
    /// Literal `True` while a password change is required.
    pub const CHANGE_PASSWD: &str = "change_passwd";
}

/// HASH `user_metadata:<id>` (fields in [`field`]).
pub fn user_metadata(user: &str) -> String {
    format!("user_metadata:{user}")
}

/// SET `user_role:<role>`: users holding that role or a higher one.
pub fn user_role(role: &str) -> String {
    format!("user_role:{role}")
}
