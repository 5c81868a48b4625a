//! Dashboard users and their sessions (control plane).
//!
//! * **Users**: unique name, Argon2id password hash (PHC string), role
//!   (viewer < operator < admin, as API tokens), disabled flag. A user's
//!   name is the identity the control plane records as `actor`,
//!   `requested_by` and `approved_by` — the same namespace as named API
//!   tokens (`ops.rs`), so one person has one name everywhere and two-person
//!   approval compares names.
//! * **Web sessions**: a random 256-bit id whose SHA-256 alone is stored,
//!   with a per-session CSRF token, creation, last use and absolute expiry.
//!   Logout revokes the row (6.3e): a copied cookie is worthless after it.

use crate::control::{ControlPlane, Role, now};
use crate::cpdb::params;
use crate::{Result, StoreError};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// A dashboard user (without the hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: i64,
}

/// A live dashboard session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub user: String,
    pub role: Role,
    pub csrf: String,
    pub created_at: i64,
    pub last_seen: i64,
    pub expires_at: i64,
}

/// Lifetimes of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Absolute lifetime from login.
    pub max_secs: i64,
    /// Ends after this long without a request.
    pub idle_secs: i64,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            max_secs: 12 * 3600,
            idle_secs: 30 * 60,
        }
    }
}

fn argon2() -> Argon2<'static> {
    // Argon2id, OWASP's minimum: 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with Argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| StoreError::Invalid(e.to_string()))?
        .to_string())
}

fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn random_token() -> String {
    let mut buf = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Checks a user name: 1-64 letters, digits, `.`, `_`, `-`, `@`.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "user name '{name}' must be 1-64 letters, digits, '.', '_', '-' or '@'"
        )))
    }
}

/// Why a password is refused (issue #22).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordProblem {
    /// Shorter than [`MIN_PASSWORD_CHARS`].
    TooShort,
    /// Contains the user name (names of 3 characters or more; any case).
    HasName,
    /// On the bundled list of common passwords (`common-passwords.txt`).
    Common,
}

/// The bundled common passwords (lower case; `#` lines are comments).
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

/// What is wrong with `password` for user `name`, if anything.
pub fn password_problem(name: &str, password: &str) -> Option<PasswordProblem> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Some(PasswordProblem::TooShort);
    }
    let (pw, name) = (password.to_lowercase(), name.to_lowercase());
    if name.chars().count() >= 3 && pw.contains(&name) {
        return Some(PasswordProblem::HasName);
    }
    let common = COMMON_PASSWORDS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|l| l == pw);
    common.then_some(PasswordProblem::Common)
}

fn check_password(name: &str, password: &str) -> Result<()> {
    let why = match password_problem(name, password) {
        None => return Ok(()),
        Some(PasswordProblem::TooShort) => {
            format!("password must have at least {MIN_PASSWORD_CHARS} characters")
        }
        Some(PasswordProblem::HasName) => "password must not contain the user name".into(),
        Some(PasswordProblem::Common) => "password is on the list of common passwords".into(),
    };
    Err(StoreError::Invalid(why))
}

impl ControlPlane {
    /// Creates a user; refuses a taken name.
    pub fn create_user(&self, name: &str, role: Role, password: &str) -> Result<User> {
        check_name(name)?;
        check_password(name, password)?;
        let hash = hash_password(password)?;
        let at = now();
        let n = self.db.execute(
            "INSERT INTO users (name, password_hash, role, disabled, created_at)
             VALUES (?, ?, ?, 0, ?) ON CONFLICT (name) DO NOTHING",
            &params![name, hash, role.as_str(), at],
        )?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("user {name} exists")));
        }
        Ok(User {
            name: name.to_string(),
            role,
            disabled: false,
            created_at: at,
        })
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<User>> {
        self.db
            .query(
                "SELECT name, role, disabled, created_at FROM users ORDER BY name",
                &params![],
            )?
            .iter()
            .map(|r| {
                let role: String = r.get(1)?;
                Ok(User {
                    name: r.get(0)?,
                    role: Role::parse(&role).unwrap_or(Role::Viewer),
                    disabled: r.get(2)?,
                    created_at: r.get(3)?,
                })
            })
            .collect()
    }

    /// Replaces a user's password and ends their sessions.
    pub fn set_password(&self, name: &str, password: &str) -> Result<()> {
        check_password(name, password)?;
        let hash = hash_password(password)?;
        let n = self.db.execute(
            "UPDATE users SET password_hash = ? WHERE name = ?",
            &params![hash, name],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("user {name}")));
        }
        self.end_user_sessions(name)
    }

    /// Disables or re-enables a user; disabling ends their sessions.
    pub fn set_user_disabled(&self, name: &str, disabled: bool) -> Result<()> {
        let n = self.db.execute(
            "UPDATE users SET disabled = ? WHERE name = ?",
            &params![disabled, name],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("user {name}")));
        }
        if disabled {
            self.end_user_sessions(name)?;
        }
        Ok(())
    }

    /// Checks a name and password. `None` for an unknown or disabled user
    /// or a wrong password (indistinguishable to the caller; an unknown
    /// name still costs one hash, so timing does not tell names apart).
    pub fn verify_user(&self, name: &str, password: &str) -> Result<Option<User>> {
        let row = self.db.query_opt(
            "SELECT password_hash, role, disabled, created_at FROM users WHERE name = ?",
            &params![name],
        )?;
        let Some(row) = row else {
            // Same work as a real check.
            let _ = verify(password, dummy_hash());
            return Ok(None);
        };
        let (hash, role, disabled, created_at): (String, String, bool, i64) =
            (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
        if !verify(password, &hash) || disabled {
            return Ok(None);
        }
        Ok(Role::parse(&role).map(|role| User {
            name: name.to_string(),
            role,
            disabled: false,
            created_at,
        }))
    }

    /// Starts a session for `user`; returns the cookie value (shown once;
    /// only its hash is stored) and the session.
    pub fn create_web_session(
        &self,
        user: &User,
        limits: SessionLimits,
    ) -> Result<(String, WebSession)> {
        let id = random_token();
        let at = now();
        let s = WebSession {
            user: user.name.clone(),
            role: user.role,
            csrf: random_token(),
            created_at: at,
            last_seen: at,
            expires_at: at + limits.max_secs,
        };
        self.db.execute(
            "INSERT INTO web_sessions (id_hash, user_name, csrf, created_at, last_seen, expires_at)
             VALUES (?, ?, ?, ?, ?, ?)",
            &params![sha256_hex(&id), s.user, s.csrf, at, at, s.expires_at],
        )?;
        Ok((id, s))
    }

    /// The live session behind a cookie value, touching its last use.
    /// `None` when unknown, revoked, expired, idle too long, or its user is
    /// disabled or gone.
    pub fn web_session(&self, id: &str, limits: SessionLimits) -> Result<Option<WebSession>> {
        let at = now();
        let hash = sha256_hex(id);
        let row = self.db.query_opt(
            "SELECT s.user_name, u.role, s.csrf, s.created_at, s.last_seen, s.expires_at
             FROM web_sessions s JOIN users u ON u.name = s.user_name
             WHERE s.id_hash = ? AND s.revoked_at IS NULL AND u.disabled = 0",
            &params![hash],
        )?;
        let Some(r) = row else {
            return Ok(None);
        };
        let role: String = r.get(1)?;
        let mut s = WebSession {
            user: r.get(0)?,
            role: Role::parse(&role).unwrap_or(Role::Viewer),
            csrf: r.get(2)?,
            created_at: r.get(3)?,
            last_seen: r.get(4)?,
            expires_at: r.get(5)?,
        };
        if at >= s.expires_at || at - s.last_seen > limits.idle_secs {
            self.db.execute(
                "UPDATE web_sessions SET revoked_at = ? WHERE id_hash = ? AND revoked_at IS NULL",
                &params![at, hash],
            )?;
            return Ok(None);
        }
        if at > s.last_seen {
            self.db.execute(
                "UPDATE web_sessions SET last_seen = ? WHERE id_hash = ? AND last_seen < ?",
                &params![at, hash, at],
            )?;
            s.last_seen = at;
        }
        Ok(Some(s))
    }

    /// Ends one session server-side (logout).
    pub fn end_web_session(&self, id: &str) -> Result<()> {
        self.db.execute(
            "UPDATE web_sessions SET revoked_at = ? WHERE id_hash = ? AND revoked_at IS NULL",
            &params![now(), sha256_hex(id)],
        )?;
        Ok(())
    }

    /// Ends every session of a user.
    pub fn end_user_sessions(&self, name: &str) -> Result<()> {
        self.db.execute(
            "UPDATE web_sessions SET revoked_at = ? WHERE user_name = ? AND revoked_at IS NULL",
            &params![now(), name],
        )?;
        Ok(())
    }
}

/// A hash of a random, discarded password, to spend the same time on
/// unknown names.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy_refuses_short_name_and_common_passwords() {
        use PasswordProblem::*;
        assert_eq!(password_problem("ops-a", "short"), Some(TooShort));
        assert_eq!(password_problem("zhangwei", "ZhangWei2024!"), Some(HasName));
        assert_eq!(password_problem("admin", "admin-password"), Some(HasName));
        assert_eq!(password_problem("ops-a", "QwertyUIOP"), Some(Common));
        assert_eq!(password_problem("ops-a", "woaini1314"), Some(Common));
        assert_eq!(password_problem("ops-a", "correct horse battery"), None);
        assert_eq!(
            password_problem("a", "a long passphrase"),
            None,
            "short names"
        );
        let (_d, cp) = cp();
        assert!(matches!(
            cp.create_user("admin", Role::Admin, "1q2w3e4r5t"),
            Err(StoreError::Invalid(_))
        ));
        cp.create_user("admin", Role::Admin, "correct horse battery")
            .unwrap();
        assert!(cp.set_password("admin", "Admin123456").is_err());
    }

    fn cp() -> (tempfile::TempDir, ControlPlane) {
        let dir = tempfile::tempdir().expect("tempdir");
        let cp = ControlPlane::open(dir.path().join("control.sqlite")).expect("open");
        (dir, cp)
    }

    #[test]
    fn passwords_are_argon2id_and_sessions_end_on_logout() {
        let (_d, cp) = cp();
        let u = cp
            .create_user("ops-a", Role::Operator, "correct horse battery")
            .unwrap();
        assert!(matches!(
            cp.create_user("ops-a", Role::Viewer, "another password"),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            cp.create_user("bad name", Role::Viewer, "another password"),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            cp.create_user("short", Role::Viewer, "short"),
            Err(StoreError::Invalid(_))
        ));
        let stored: String = cp
            .db
            .query_opt("SELECT password_hash FROM users WHERE name = 'ops-a'", &[])
            .unwrap()
            .unwrap()
            .get(0)
            .unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert_eq!(cp.verify_user("ops-a", "wrong password!").unwrap(), None);
        assert_eq!(cp.verify_user("nobody", "whatever it is").unwrap(), None);
        let v = cp
            .verify_user("ops-a", "correct horse battery")
            .unwrap()
            .unwrap();
        assert_eq!(v.role, Role::Operator);

        let limits = SessionLimits::default();
        let (id, s) = cp.create_web_session(&u, limits).unwrap();
        assert_eq!(cp.web_session(&id, limits).unwrap().unwrap().csrf, s.csrf);
        cp.end_web_session(&id).unwrap();
        assert_eq!(cp.web_session(&id, limits).unwrap(), None);

        let (id2, _) = cp.create_web_session(&u, limits).unwrap();
        cp.set_user_disabled("ops-a", true).unwrap();
        assert_eq!(cp.web_session(&id2, limits).unwrap(), None);
        assert_eq!(
            cp.verify_user("ops-a", "correct horse battery").unwrap(),
            None
        );
    }
}
