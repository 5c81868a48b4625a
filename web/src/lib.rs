//! vitals-web: the operations dashboard, served by the same actix-web
//! process under `/ui/`.
//!
//! * Server-rendered HTML ([`maud`], checked at compile time); every text
//!   from the catalogue (`vitals-i18n`), dates in the configured time zone.
//! * Charts as SVG drawn by `plotters` on the server, each beside a table
//!   with the same numbers ([`charts`]).
//! * Local users (Argon2id, `vitals_store::users`), server-side sessions,
//!   CSRF tokens on every form ([`auth`]); sign-in throttles, bounded
//!   password hashing, trusted devices and proxies ([`login_guard`]).
//! * Actions go through the control plane's service (`vitals-control`):
//!   the dashboard user's name is the actor, so two-person approval works
//!   across the dashboard and the API.
//! * Assets (CSS, a little dependency-free JS) are compiled in ([`assets`]).
//!
//! Pages: overview, release, crash groups and detail, compatibility,
//! performance, updates, emergency, alerts (`pages/`).

mod assets;
mod auth;
pub mod charts;
mod ctx;
mod data;
mod error;
pub mod fmt;
mod layout;
pub mod login_guard;
mod pages;

pub use auth::session_first;
pub use error::WebError;
pub use login_guard::LoginSettings;

use actix_web::web;
use std::sync::Arc;
use vitals_analyzer::Analyzer;
use vitals_control::Control;
use vitals_i18n::Lang;
use vitals_store::users::SessionLimits;

/// Dashboard settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebSettings {
    /// Mark cookies `Secure` and use the `__Host-` prefix (serve over HTTPS,
    /// directly or behind a TLS proxy). Off for plain loopback HTTP.
    pub secure_cookies: bool,
    pub session: SessionLimits,
}

/// Alert rules to list (the alerts service's file and API rules), as JSON.
pub type RulesSource = Arc<dyn Fn() -> Vec<serde_json::Value> + Send + Sync>;

/// Shared state of the dashboard.
pub struct WebState {
    pub analyzer: Analyzer,
    /// The control-plane service; without it pages show state read-only.
    pub control: Option<Arc<Control>>,
    pub lang: Lang,
    pub tz: chrono_tz::Tz,
    pub settings: WebSettings,
    /// Where alert rules come from; without it, the API-defined rules
    /// stored in the control plane are listed.
    pub alert_rules: Option<RulesSource>,
    guard: login_guard::Guard,
}

impl WebState {
    pub fn new(
        analyzer: Analyzer,
        control: Option<Arc<Control>>,
        lang: Lang,
        settings: WebSettings,
    ) -> WebState {
        let tz = analyzer
            .timezone
            .parse()
            .unwrap_or(chrono_tz::Asia::Shanghai);
        WebState {
            analyzer,
            control,
            lang,
            tz,
            settings,
            alert_rules: None,
            guard: login_guard::Guard::new(LoginSettings::default()),
        }
    }

    /// Sign-in settings (`[web]`): hashing concurrency, throttles, trusted
    /// proxies.
    pub fn with_login(mut self, login: LoginSettings) -> WebState {
        self.guard = login_guard::Guard::new(login);
        self
    }
}

pub(crate) type St = web::Data<WebState>;

/// Registers the dashboard's routes (all under `/ui/`, plus `/` → `/ui/`).
pub fn configure(state: web::Data<WebState>, cfg: &mut web::ServiceConfig) {
    use pages::*;
    cfg.app_data(state)
        .route("/", web::get().to(root))
        .route("/ui", web::get().to(root))
        .route("/ui/assets/{name}", web::get().to(assets::serve))
        .route("/ui/login", web::get().to(auth::login_form))
        .route("/ui/login", web::post().to(auth::login))
        .route("/ui/logout", web::post().to(auth::logout))
        .route("/ui/prefs", web::get().to(auth::prefs))
        .route("/ui/", web::get().to(overview::page))
        .route("/ui/alerts", web::get().to(alerts::page))
        .route(
            "/ui/apps/{app}/releases/{release}",
            web::get().to(release::page),
        )
        .route("/ui/apps/{app}/crashes", web::get().to(crashes::list))
        .route(
            "/ui/apps/{app}/crashes/{fp}",
            web::get().to(crashes::detail),
        )
        .route(
            "/ui/apps/{app}/crashes/{fp}/state",
            web::post().to(crashes::set_state),
        )
        .route("/ui/apps/{app}/compatibility", web::get().to(compat::page))
        .route("/ui/apps/{app}/performance", web::get().to(perf::page))
        .route("/ui/apps/{app}/updates", web::get().to(updates::page))
        .route("/ui/apps/{app}/emergency", web::get().to(emergency::page))
        .route("/ui/apps/{app}/actions", web::post().to(emergency::request))
        .route(
            "/ui/actions/{id}/approve",
            web::post().to(emergency::approve),
        )
        .route("/ui/actions/{id}/reject", web::post().to(emergency::reject));
}

async fn root() -> actix_web::HttpResponse {
    ctx::see_other("/ui/")
}
