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
    /// A read command found no store where the configuration points: it
    /// creates nothing.
    #[error("no data in {0}")]
    NoData(PathBuf),
    #[error("the server at {url} answered {status}: {message}")]
    Remote {
        url: String,
        status: u16,
        message: String,
    },
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
}

/// A running server to ask instead of the local data directory.
pub struct Remote {
    pub url: String,
    pub token: Option<String>,
}

/// A running server to ask instead of the local data directory.
#[derive(clap::Args, Clone)]
pub struct RemoteArgs {
    /// Server URL (e.g. https://vitals.example.com); without it the local
    /// data directory is read.
    #[arg(long, env = "VITALS_URL")]
    pub url: Option<String>,
    /// API token (viewer or above) for --url.
    #[arg(long, env = "VITALS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl RemoteArgs {
    pub fn remote(&self) -> Option<Remote> {
        self.url.clone().map(|url| Remote {
            url,
            token: self.token.clone(),
        })
    }
}

async fn analyzer(cfg: &Config) -> Result<Analyzer, GateError> {
    // A read command never creates an empty store (the embedded store and
    // control plane are created by the server, `migrate` or `demo`).
    let missing = |name: &str| !cfg.data_dir.join(name).is_file();
    if (cfg.clickhouse().is_none() && missing("telemetry.sqlite"))
        || (cfg.control_plane.url.is_empty() && missing("control.sqlite"))
    {
        return Err(GateError::NoData(cfg.data_dir.clone()));
    }
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

/// Asks a running server (`GET|POST {url}/api/v1/…`) and writes its
/// answer: the same rendering and exit code as the server's own evaluation.
async fn ask(
    remote: &Remote,
    path: &str,
    query: &[(&str, &str)],
    body: Option<String>,
    lang: vitals_i18n::Lang,
    output: Option<&PathBuf>,
) -> Result<i32, GateError> {
    let base = remote.url.trim_end_matches('/');
    let url = format!("{base}{path}");
    let unreachable = |e: reqwest::Error| GateError::Unreachable {
        url: base.to_string(),
        reason: e.to_string(),
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .map_err(unreachable)?;
    let mut req = match body {
        Some(b) => client
            .post(&url)
            .header("content-type", "application/toml")
            .body(b),
        None => client.get(&url),
    }
    .query(query)
    .header("accept-language", lang.tag());
    if let Some(t) = &remote.token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.map_err(unreachable)?;
    let status = resp.status();
    let code = resp
        .headers()
        .get(vitals_analyzer::api::EXIT_CODE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok());
    let text = resp.text().await.map_err(unreachable)?;
    match (status.is_success(), code) {
        (true, Some(code)) => {
            emit(&text, output)?;
            Ok(code)
        }
        _ => {
            // The documented JSON error, or whatever a proxy answered.
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| text.chars().take(300).collect());
            Err(GateError::Remote {
                url: base.to_string(),
                status: status.as_u16(),
                message,
            })
        }
    }
}

/// `vitals gate --url …`: the server evaluates, with the policy file sent
/// along when one is given.
#[allow(clippy::too_many_arguments)]
pub async fn remote_gate(
    remote: &Remote,
    lang: vitals_i18n::Lang,
    app: &str,
    release: &str,
    policy: Option<PathBuf>,
    baseline: Option<String>,
    format: GateFormat,
    output: Option<PathBuf>,
) -> Result<i32, GateError> {
    let policy = match policy {
        Some(p) => Some(std::fs::read_to_string(&p).map_err(|source| {
            crate::config::ConfigError::Read {
                path: p.clone(),
                source,
            }
        })?),
        None => None,
    };
    let format_name = match format {
        GateFormat::Text => "text",
        GateFormat::Json => "json",
        GateFormat::Junit => "junit",
    };
    let mut query = vec![("format", format_name)];
    if let Some(b) = baseline.as_deref() {
        query.push(("baseline", b));
    }
    let path = format!(
        "/api/v1/apps/{}/releases/{}/gate",
        segment(app),
        segment(release)
    );
    let code = ask(remote, &path, &query, policy, lang, output.as_ref()).await?;
    if output.is_some() || format != GateFormat::Text {
        eprintln!("{}", decision_text(code, lang));
    }
    Ok(code)
}

/// `vitals report --url …`.
pub async fn remote_report(
    remote: &Remote,
    lang: vitals_i18n::Lang,
    app: &str,
    release: Option<String>,
    format: ReportFormat,
    output: Option<PathBuf>,
) -> Result<(), GateError> {
    let format_name = match format {
        ReportFormat::Md => "md",
        ReportFormat::Html => "html",
        ReportFormat::Json => "json",
    };
    let mut query = vec![("format", format_name)];
    if let Some(r) = release.as_deref() {
        query.push(("release", r));
    }
    let path = format!("/api/v1/apps/{}/report", segment(app));
    ask(remote, &path, &query, None, lang, output.as_ref()).await?;
    Ok(())
}

/// A path segment, percent-encoded.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn decision_text(code: i32, lang: vitals_i18n::Lang) -> String {
    use vitals_analyzer::evaluate::Decision;
    match code {
        0 => Decision::Go,
        1 => Decision::NoGo,
        _ => Decision::InsufficientData,
    }
    .text(lang)
}

/// The message for an analyzer error, in the configured language.
pub fn describe(e: &GateError, cfg_lang: vitals_i18n::Lang) -> String {
    match e {
        GateError::NoData(dir) => {
            Msg::CliNoData.render(cfg_lang, &[("dir", &dir.display().to_string())])
        }
        GateError::Remote {
            url,
            status,
            message,
        } => Msg::CliRemoteFailed.render(
            cfg_lang,
            &[
                ("url", url),
                ("status", &status.to_string()),
                ("message", message),
            ],
        ),
        GateError::Unreachable { url, reason } => {
            Msg::CliRemoteUnreachable.render(cfg_lang, &[("url", url), ("reason", reason)])
        }
        GateError::Analyzer(AnalyzerError::NoRelease { app, release }) => {
            Msg::ReleaseNotFound.render(cfg_lang, &[("app", app), ("release", release)])
        }
        GateError::Analyzer(AnalyzerError::Policy(p)) => p.render(cfg_lang),
        other => other.to_string(),
    }
}
