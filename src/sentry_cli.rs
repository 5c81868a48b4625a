//! `vitals sentry show | enable | disable | set-origins --app APP`: an
//! app's Sentry-protocol intake from the command line (issue #22), the same
//! state as `GET`/`PUT /api/v1/apps/{app}/sentry`. Holding the
//! configuration makes one an admin; changes are audited as actor `cli`.

use crate::config::Config;
use vitals_collector::sentry::intake_api::IntakeView;
use vitals_i18n::{Lang, Msg};
use vitals_store::sentry_intake::{IntakeChange, normalize_origins};
use vitals_store::{ControlPlane, StoreError};

/// What to do.
#[derive(Debug, Clone)]
pub enum Action {
    /// Print the state and the DSNs.
    Show,
    /// Turn intake on, adding these allowed origins.
    Enable { add_origins: Vec<String> },
    /// Turn intake off (the project id is kept for a later `enable`).
    Disable,
    /// Replace the allowed origins (none: browsers are refused).
    SetOrigins(Vec<String>),
}

/// A refusal, its message already in the user's language.
#[derive(Debug, thiserror::Error)]
pub enum SentryCliError {
    #[error("{0}")]
    Refused(String),
    #[error("control plane: {0}")]
    Store(#[from] StoreError),
}

/// Runs `action` for `app`; returns the text to print.
pub fn run(
    cp: &ControlPlane,
    cfg: &Config,
    app: &str,
    action: Action,
) -> Result<String, SentryCliError> {
    let lang = cfg.lang();
    let missing = || SentryCliError::Refused(Msg::SentryAppNotFound.render(lang, &[("app", &app)]));
    let check = |list: &[String]| {
        normalize_origins(list).map_err(|b| {
            SentryCliError::Refused(
                Msg::SentryBadOrigin.render(lang, &[("value", &b.value), ("reason", &b.reason)]),
            )
        })
    };
    let change = match action {
        Action::Show => None,
        Action::Enable { add_origins } => {
            check(&add_origins)?;
            Some(IntakeChange {
                enabled: Some(true),
                add_origins,
                ..Default::default()
            })
        }
        Action::Disable => Some(IntakeChange {
            enabled: Some(false),
            ..Default::default()
        }),
        Action::SetOrigins(list) => {
            check(&list)?;
            Some(IntakeChange {
                allowed_origins: Some(list),
                ..Default::default()
            })
        }
    };
    if cp.app(app)?.is_none() {
        return Err(missing());
    }
    if let Some(c) = change {
        match cp.set_sentry_intake(app, &c, "cli") {
            Err(StoreError::NotFound(_)) => return Err(missing()),
            r => r?,
        };
    }
    let a = cp.app(app)?.ok_or_else(missing)?;
    let base = if cfg.collector.sentry.public_url.is_empty() {
        format!("http://{}", cfg.listen)
    } else {
        cfg.collector.sentry.public_url.clone()
    };
    Ok(render(&IntakeView::of(cp, &a, &base)?, lang))
}

/// The state as `vitals sentry` prints it.
pub fn render(v: &IntakeView, lang: Lang) -> String {
    let state = if v.enabled {
        Msg::CliSentryOn
    } else {
        Msg::CliSentryOffState
    };
    let project = v
        .project
        .map_or_else(|| Msg::CliSentryNoProject.text(lang), |p| p.to_string());
    let origins = if v.allowed_origins.is_empty() {
        Msg::CliSentryNoOrigins.text(lang)
    } else {
        v.allowed_origins.join(", ")
    };
    let mut out = Msg::CliSentryState.render(
        lang,
        &[
            ("app", &v.app),
            ("state", &state.text(lang)),
            ("project", &project),
            ("origins", &origins),
        ],
    );
    if v.enabled && v.dsns.is_empty() {
        out.push('\n');
        out.push_str(&Msg::CliSentryNoKeys.render(lang, &[("app", &v.app)]));
    }
    for d in &v.dsns {
        out.push('\n');
        out.push_str(&Msg::CliSentryDsn.render(lang, &[("key_id", &d.key_id), ("dsn", &d.dsn)]));
    }
    out
}
