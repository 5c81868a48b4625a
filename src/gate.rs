//! `vitals gate` and `vitals report`: the analyzer from the command line,
//! reading the store named by the configuration.

use crate::config::Config;
use crate::server;
use std::path::PathBuf;
use vitals_analyzer::facts::ReleaseRef;
use vitals_analyzer::policy::Policy;
use vitals_analyzer::{Analyzer, AnalyzerError, render};
use vitals_i18n::Msg;

/// Output format of the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GateFormat {
    Text,
    Json,
    Junit,
}

/// Output format of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Md,
    Html,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("{0}")]
    Server(#[from] server::ServerError),
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Analyzer(#[from] AnalyzerError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

async fn analyzer(cfg: &Config) -> Result<Analyzer, GateError> {
    let store = server::open_store(cfg).await?;
    let cp = server::control_plane(cfg)?;
    Ok(Analyzer::new(store, cp, cfg.policy()?, &cfg.timezone))
}

fn emit(text: &str, output: Option<&PathBuf>) -> Result<(), GateError> {
    match output {
        Some(p) => std::fs::write(p, text).map_err(|source| GateError::Write {
            path: p.clone(),
            source,
        }),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// Evaluates a release; returns the process exit code (0 go, 1 no-go,
/// 2 insufficient data). Errors are the caller's exit code 2.
pub async fn gate(
    cfg: &Config,
    app: &str,
    release: &str,
    policy: Option<PathBuf>,
    baseline: Option<String>,
    format: GateFormat,
    output: Option<PathBuf>,
) -> Result<i32, GateError> {
    let lang = cfg.lang();
    let a = analyzer(cfg).await?;
    let policy = match policy {
        Some(p) => {
            let text =
                std::fs::read_to_string(&p).map_err(|source| crate::config::ConfigError::Read {
                    path: p.clone(),
                    source,
                })?;
            Some(Policy::parse(&text).map_err(|e| {
                crate::config::ConfigError::Invalid(format!("{}: {}", p.display(), e.render(lang)))
            })?)
        }
        None => None,
    };
    let r = ReleaseRef::parse(release);
    let base = match baseline {
        Some(b) => Some(ReleaseRef::parse(&b)),
        None => a.previous_release(app, &r).await?,
    };
    let e = a.evaluate(app, &r, policy.as_ref(), base.as_ref()).await?;
    let text = match format {
        GateFormat::Text => render::text(&e, lang),
        GateFormat::Json => serde_json::to_string_pretty(&e).unwrap_or_default() + "\n",
        GateFormat::Junit => render::junit(&e, lang),
    };
    emit(&text, output.as_ref())?;
    if output.is_some() || format != GateFormat::Text {
        eprintln!("{}", e.decision.text(lang));
    }
    Ok(e.decision.exit_code())
}

/// Writes a compliance report for a release (default: the newest).
pub async fn report(
    cfg: &Config,
    app: &str,
    release: Option<String>,
    format: ReportFormat,
    output: Option<PathBuf>,
) -> Result<(), GateError> {
    let lang = cfg.lang();
    let a = analyzer(cfg).await?;
    let r = match release {
        Some(r) => ReleaseRef::parse(&r),
        None => a
            .latest_release(app)
            .await?
            .ok_or_else(|| AnalyzerError::NoRelease {
                app: app.to_string(),
                release: "-".into(),
            })?,
    };
    let base = a.previous_release(app, &r).await?;
    let e = a.evaluate(app, &r, None, base.as_ref()).await?;
    let text = match format {
        ReportFormat::Md => render::markdown(&e, lang, &cfg.timezone),
        ReportFormat::Html => render::html(&e, lang, &cfg.timezone),
        ReportFormat::Json => serde_json::to_string_pretty(&e).unwrap_or_default() + "\n",
    };
    emit(&text, output.as_ref())
}

/// The message for an analyzer error, in the configured language.
pub fn describe(e: &GateError, cfg_lang: vitals_i18n::Lang) -> String {
    match e {
        GateError::Analyzer(AnalyzerError::NoRelease { app, release }) => {
            Msg::ReleaseNotFound.render(cfg_lang, &[("app", app), ("release", release)])
        }
        GateError::Analyzer(AnalyzerError::Policy(p)) => p.render(cfg_lang),
        other => other.to_string(),
    }
}
