//! `vitals`: the command-line entry point. Thin: parses arguments, loads
//! the configuration and calls into the service libraries.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use vitals::config::{Config, Overrides};
use vitals::{server, simulate};
use vitals_i18n::{Lang, Msg};
use vitals_store::control::Role;

#[derive(Parser)]
#[command(
    name = "vitals",
    version,
    about = "Quality and operations telemetry for mobile financial apps / 移动金融客户端质量与运维遥测平台"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct Common {
    /// Config file (TOML); see deploy/vitals.example.toml.
    #[arg(long, env = "VITALS_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Data directory (embedded store, control plane, spool).
    #[arg(long, env = "VITALS_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// ClickHouse HTTP URL; without it the embedded store is used.
    #[arg(long, env = "VITALS_CLICKHOUSE_URL", global = true)]
    clickhouse_url: Option<String>,
    /// Language of messages: zh-CN (default) or en.
    #[arg(long, env = "VITALS_LANG", global = true)]
    lang: Option<String>,
}

#[derive(Args, Clone)]
struct ServeArgs {
    #[command(flatten)]
    common: Common,
    /// Listen address, e.g. 127.0.0.1:8080.
    #[arg(long, env = "VITALS_LISTEN")]
    listen: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every service in one process.
    Serve(ServeArgs),
    /// Run the server on a demo fleet (embedded store unless --clickhouse-url).
    Demo {
        #[command(flatten)]
        serve: ServeArgs,
        /// Virtual devices of the simulated fleet.
        #[arg(long, default_value_t = 2000)]
        devices: u64,
        /// Seed of the simulated fleet (default: time-based, so a restarted
        /// demo adds new data instead of repeating batch ids).
        #[arg(long)]
        seed: Option<u64>,
        /// Batches per second the simulator sends.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
    },
    /// Create or upgrade the telemetry schema (idempotent).
    Migrate {
        #[command(flatten)]
        common: Common,
        /// Also empty and recompute the rollups from the raw rows (after a
        /// restore, or a backend crash mid-insert). Stop ingestion first.
        #[arg(long)]
        rebuild_rollups: bool,
        /// ClickHouse cluster (from the servers' `<remote_servers>`): local
        /// tables on every node under `Distributed` tables. Overrides
        /// `[clickhouse] cluster`; `vitals serve` needs the same setting.
        #[arg(long, value_name = "NAME")]
        cluster: Option<String>,
    },
    /// Drive a running collector with a simulated fleet.
    Simulate(SimulateArgs),
    /// Release go/no-go gate for CI: exit 0 go, 1 no-go, 2 insufficient data or error.
    Gate {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        app: String,
        /// Release: VERSION or VERSION+BUILD.
        #[arg(long)]
        release: String,
        /// Policy file replacing or overriding the standard.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Release to compare with (default: the previous one).
        #[arg(long)]
        baseline: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: vitals::gate::GateFormat,
        /// Write the output to a file instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        remote: vitals::gate::RemoteArgs,
    },
    /// Per-clause compliance report of a release.
    Report {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        app: String,
        /// Release (default: the newest with data).
        #[arg(long)]
        release: Option<String>,
        #[arg(long, value_enum, default_value = "md")]
        format: vitals::gate::ReportFormat,
        #[arg(long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        remote: vitals::gate::RemoteArgs,
    },
    /// Upload debug files (dSYM, .so/ELF, .sym, PDB, mapping.txt, source
    /// maps; folders and zips are walked) to a server or a local data dir.
    UploadSymbols {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        app: String,
        /// Server URL; without it files go into the local data directory.
        #[arg(long, env = "VITALS_URL")]
        url: Option<String>,
        /// API token (operator or admin) for --url.
        #[arg(long, env = "VITALS_TOKEN")]
        token: Option<String>,
        /// Release the files belong to (source maps).
        #[arg(long)]
        release: Option<String>,
        /// URL prefix of JS files, e.g. `~/static/js/`.
        #[arg(long)]
        url_prefix: Option<String>,
        /// Explicit ProGuard mapping UUID.
        #[arg(long)]
        mapping_uuid: Option<String>,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Manage per-app ingest keys.
    Keys {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        cmd: KeysCmd,
    },
    /// Sentry-protocol intake of an app: off unless enabled; DSN, allowed origins.
    Sentry {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        cmd: SentryCmd,
    },
    /// Manage dashboard users (admin / operator / viewer).
    Users {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        cmd: UsersCmd,
    },
    /// Manage API tokens (admin / operator / viewer).
    Tokens {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        cmd: TokensCmd,
    },
    /// Emergency actions: status, activate, approve, revert, audit, signing keys.
    Switch {
        #[command(flatten)]
        common: Common,
        /// API token of the operator acting (names who did it).
        #[arg(long, env = "VITALS_TOKEN", global = true, hide_env_values = true)]
        token: Option<String>,
        #[command(subcommand)]
        cmd: SwitchCmd,
    },
}

#[derive(Subcommand)]
enum SwitchCmd {
    /// Config sequence, directives, sites, rollouts and pending actions of an app.
    Status {
        #[arg(long)]
        app: String,
    },
    /// Request an action, e.g. --action '{"type":"set_kill_switch","feature":"trade","enabled":false}'.
    Activate {
        #[arg(long)]
        app: String,
        /// The action as JSON (see docs: activate_emergency, clear_emergency,
        /// pause_rollout, rollback_rollout, delete_rollout, drain_site,
        /// restore_site, set_kill_switch …).
        #[arg(long)]
        action: String,
        #[arg(long)]
        reason: String,
        /// automatic or approval (default: the configured default_mode).
        #[arg(long)]
        mode: Option<String>,
    },
    /// Approve a pending action (a different operator than the requester).
    Approve { id: String },
    /// Revert an audit entry in one step.
    Revert {
        id: i64,
        #[arg(long)]
        reason: String,
    },
    /// The audit log (JSON lines, newest first).
    Audit {
        #[arg(long)]
        app: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// New client-config signing key (the old one stays published).
    RotateKey,
    /// Stop publishing a signing key.
    RetireKey { key_id: String },
}

#[derive(Subcommand)]
enum SentryCmd {
    /// State, project id, allowed origins and the DSN of each active key.
    Show {
        #[arg(long)]
        app: String,
    },
    /// Accept the app's Sentry SDKs; --allow-origin adds a browser origin
    /// (https://app.example.com, *.example.com, example.com or *).
    Enable {
        #[arg(long)]
        app: String,
        #[arg(long = "allow-origin", value_name = "ORIGIN")]
        allow_origin: Vec<String>,
    },
    /// Refuse the app's Sentry SDKs again (the DSN stays for a later enable).
    Disable {
        #[arg(long)]
        app: String,
    },
    /// Replace the allowed browser origins (none given: browsers refused).
    SetOrigins {
        #[arg(long)]
        app: String,
        origins: Vec<String>,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Create a key for an app (the app is created if new).
    Create {
        #[arg(long)]
        app: String,
    },
    /// List all keys.
    List,
    /// Revoke a key.
    Revoke { key_id: String },
}

#[derive(Subcommand)]
enum UsersCmd {
    /// Create a user; the password is read from standard input (one line).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Read the password from standard input (the only way; accepted for clarity).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Disable a user and end their sessions.
    Disable { name: String },
}

#[derive(Subcommand)]
enum TokensCmd {
    /// Create an API token.
    Create {
        #[arg(long, default_value = "admin")]
        role: String,
        #[arg(long, default_value = "cli")]
        label: String,
        /// Unique name of the person or system holding it (two-person approval).
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Args)]
struct SimulateArgs {
    /// Collector base URL.
    #[arg(long, env = "VITALS_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    #[arg(long, default_value = "demo")]
    app: String,
    #[arg(long, env = "VITALS_KEY_ID")]
    key_id: String,
    #[arg(long, env = "VITALS_KEY_SECRET")]
    key_secret: String,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 1000)]
    devices: u64,
    /// Batches to send (0 = until --duration-secs).
    #[arg(long, default_value_t = 1000)]
    batches: u64,
    #[arg(long, default_value_t = 0)]
    duration_secs: u64,
    #[arg(long, default_value_t = 100)]
    events_per_batch: usize,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Target batches per second (0 = as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Send uncompressed JSON.
    #[arg(long)]
    no_gzip: bool,
    /// Write the report as JSON to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    #[arg(long, env = "VITALS_LANG")]
    lang: Option<String>,
}

fn load(common: &Common, listen: Option<String>) -> Result<Config> {
    let o = Overrides {
        listen,
        data_dir: common.data_dir.clone(),
        clickhouse_url: common.clickhouse_url.clone(),
        lang: common.lang.clone(),
    };
    Ok(Config::load(common.config.as_deref(), &o)?)
}

fn init_logging() {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_env("VITALS_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,vitals::http=warn"));
    let json = std::env::var("VITALS_LOG_FORMAT")
        .map(|v| v == "json")
        .unwrap_or(false);
    if json {
        fmt()
            .with_env_filter(filter)
            .json()
            .with_writer(std::io::stderr)
            .init();
    } else {
        fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
}

fn main() -> Result<()> {
    // Before anything is written: files 0600, directories 0700.
    vitals::at_rest::private_umask();
    init_logging();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Serve(a) => {
            let cfg = load(&a.common, a.listen.clone())?;
            let running = server::start(&cfg).await?;
            println!(
                "{}",
                Msg::CliServeListening.render(
                    cfg.lang(),
                    &[
                        ("url", &format!("http://{}", running.addr)),
                        ("backend", &running.backend)
                    ]
                )
            );
            running.wait().await?;
            Ok(())
        }
        Cmd::Demo {
            serve,
            devices,
            seed,
            rate,
        } => {
            let seed = seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(7)
            });
            vitals::demo::run(
                load(&serve.common, serve.listen.clone())?,
                serve.common.data_dir.is_none(),
                devices,
                seed,
                rate,
            )
            .await
        }
        Cmd::Migrate {
            common,
            rebuild_rollups,
            cluster,
        } => {
            let mut cfg = load(&common, None)?;
            if let Some(c) = cluster {
                cfg.clickhouse.cluster = c;
            }
            let store: std::sync::Arc<dyn vitals_store::Store> = server::open_store(&cfg).await?;
            let r = store
                .migrate()
                .await
                .with_context(|| format!("migrating the {} store", store.backend()))?;
            if rebuild_rollups {
                let t = std::time::Instant::now();
                store
                    .rebuild_rollups()
                    .await
                    .with_context(|| format!("rebuilding the {} rollups", store.backend()))?;
                println!(
                    "{}",
                    Msg::CliRollupsRebuilt.render(
                        cfg.lang(),
                        &[("secs", &format!("{:.1}", t.elapsed().as_secs_f64()))]
                    )
                );
            }
            println!(
                "{}",
                Msg::CliMigrateDone.render(
                    cfg.lang(),
                    &[
                        ("backend", &store.backend()),
                        ("version", &r.version),
                        ("applied", &r.applied)
                    ]
                )
            );
            Ok(())
        }
        Cmd::Simulate(a) => simulate_cmd(a).await,
        Cmd::UploadSymbols {
            common,
            app,
            url,
            token,
            release,
            url_prefix,
            mapping_uuid,
            paths,
        } => {
            use vitals_symbolicator::upload::{UploadOptions, UploadTarget, upload_paths};
            let cfg = load(&common, None)?;
            let target = match url {
                Some(base_url) => UploadTarget::Remote {
                    base_url,
                    token: token.context("--token (or VITALS_TOKEN) is required with --url")?,
                },
                None => UploadTarget::Local {
                    root: cfg.symbols_dir(),
                },
            };
            let opts = UploadOptions {
                app,
                hints: vitals_symbolicator::UploadHints {
                    release,
                    mapping_uuid,
                    ..Default::default()
                },
                url_prefix,
                zip: cfg.symbolicator.uploads,
                ..Default::default()
            };
            let report = upload_paths(&paths, &target, &opts).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Cmd::Gate {
            common,
            app,
            release,
            policy,
            baseline,
            format,
            output,
            remote,
        } => {
            let cfg = match load(&common, None) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(2);
                }
            };
            let run = match remote.remote() {
                Some(r) => {
                    vitals::gate::remote_gate(
                        &r,
                        cfg.lang(),
                        &app,
                        &release,
                        policy,
                        baseline,
                        format,
                        output,
                    )
                    .await
                }
                None => {
                    vitals::gate::gate(&cfg, &app, &release, policy, baseline, format, output).await
                }
            };
            match run {
                Ok(code) => std::process::exit(code),
                Err(e) => {
                    eprintln!("{}", vitals::gate::describe(&e, cfg.lang()));
                    std::process::exit(2);
                }
            }
        }
        Cmd::Report {
            common,
            app,
            release,
            format,
            output,
            remote,
        } => {
            let cfg = load(&common, None)?;
            match remote.remote() {
                Some(r) => {
                    vitals::gate::remote_report(&r, cfg.lang(), &app, release, format, output).await
                }
                None => vitals::gate::report(&cfg, &app, release, format, output).await,
            }
            .map_err(|e| anyhow::anyhow!(vitals::gate::describe(&e, cfg.lang())))
        }
        Cmd::Keys { common, cmd } => {
            let cfg = load(&common, None)?;
            let lang = cfg.lang();
            let cp = server::control_plane(&cfg)?;
            match cmd {
                KeysCmd::Create { app } => {
                    let k = cp.create_key(&app)?;
                    println!(
                        "{}",
                        Msg::CliKeyCreated.render(
                            lang,
                            &[
                                ("app", &k.app_id),
                                ("key_id", &k.key_id),
                                ("secret", &k.secret),
                            ]
                        )
                    );
                    // Sentry SDKs take the key id as the DSN's public key,
                    // once the app's Sentry intake is on.
                    match cp
                        .app(&k.app_id)?
                        .and_then(|a| a.sentry.enabled.then_some(a.sentry.project))
                        .flatten()
                    {
                        Some(project) => {
                            let base = if cfg.collector.sentry.public_url.is_empty() {
                                format!("http://{}", cfg.listen)
                            } else {
                                cfg.collector.sentry.public_url.clone()
                            };
                            let dsn = vitals_collector::sentry::intake_api::dsn(
                                &base, &k.key_id, project,
                            );
                            println!("{}", Msg::CliKeySentryDsn.render(lang, &[("dsn", &dsn)]));
                        }
                        None => println!(
                            "{}",
                            Msg::CliKeySentryOff.render(lang, &[("app", &k.app_id)])
                        ),
                    }
                }
                KeysCmd::List => {
                    let keys = cp.keys()?;
                    if keys.is_empty() {
                        println!("{}", Msg::CliKeysNone.text(lang));
                    } else {
                        println!("{}", Msg::CliKeysHeader.text(lang));
                        for k in keys {
                            let status = if k.active { "active" } else { "revoked" };
                            println!("{}\t{}\t{}\t{}", k.app_id, k.key_id, status, k.created_at);
                        }
                    }
                }
                KeysCmd::Revoke { key_id } => match cp.revoke_key(&key_id) {
                    Ok(()) => println!(
                        "{}",
                        Msg::CliKeyRevoked.render(lang, &[("key_id", &key_id)])
                    ),
                    Err(vitals_store::StoreError::NotFound(_)) => {
                        bail!(Msg::CliKeyNotFound.render(lang, &[("key_id", &key_id)]))
                    }
                    Err(e) => return Err(e.into()),
                },
            }
            Ok(())
        }
        Cmd::Sentry { common, cmd } => {
            let cfg = load(&common, None)?;
            let cp = server::control_plane(&cfg)?;
            use vitals::sentry_cli::Action;
            let (app, action) = match cmd {
                SentryCmd::Show { app } => (app, Action::Show),
                SentryCmd::Enable { app, allow_origin } => (
                    app,
                    Action::Enable {
                        add_origins: allow_origin,
                    },
                ),
                SentryCmd::Disable { app } => (app, Action::Disable),
                SentryCmd::SetOrigins { app, origins } => (app, Action::SetOrigins(origins)),
            };
            println!("{}", vitals::sentry_cli::run(&cp, &cfg, &app, action)?);
            Ok(())
        }
        Cmd::Users { common, cmd } => users_cmd(load(&common, None)?, cmd),
        Cmd::Tokens {
            common,
            cmd: TokensCmd::Create { role, label, name },
        } => {
            let cfg = load(&common, None)?;
            let r = Role::parse(&role)
                .with_context(|| format!("role '{role}' must be viewer, operator or admin"))?;
            let cp = server::control_plane(&cfg)?;
            let token = match name {
                Some(n) => cp.create_named_token(r, &n)?,
                None => cp.create_token(r, &label)?,
            };
            println!(
                "{}",
                Msg::CliTokenCreated
                    .render(cfg.lang(), &[("role", &r.as_str()), ("token", &token)])
            );
            Ok(())
        }
        Cmd::Switch { common, token, cmd } => switch_cmd(load(&common, None)?, token, cmd),
    }
}

fn switch_cmd(cfg: Config, token: Option<String>, cmd: SwitchCmd) -> Result<()> {
    use vitals_control::cli;
    let lang = cfg.lang();
    // Never a fresh, empty control plane: that answered "0 directives"
    // while the server's own had one live.
    if cfg.control_plane.url.is_empty() && !cfg.data_dir.join("control.sqlite").is_file() {
        anyhow::bail!(
            Msg::CliNoControlPlane.render(lang, &[("dir", &cfg.data_dir.display().to_string())])
        );
    }
    let control = vitals_control::Control::new(
        server::control_plane(&cfg)?,
        cfg.control.clone(),
        None,
        None,
        lang,
    )?;
    let who = |needed: Role| -> Result<vitals_store::ops::Identity> {
        let t = token
            .as_deref()
            .context("--token or VITALS_TOKEN is required")?;
        cli::identity(&control, t, needed).map_err(|e| anyhow::anyhow!(e.parts(lang).1))
    };
    let out = match cmd {
        SwitchCmd::Status { app } => cli::status(&control, &app),
        SwitchCmd::Activate {
            app,
            action,
            reason,
            mode,
        } => {
            let mode = match mode.as_deref() {
                None => None,
                Some("automatic") => Some(vitals_control::Mode::Automatic),
                Some("approval") => Some(vitals_control::Mode::Approval),
                Some(m) => bail!("mode '{m}' must be automatic or approval"),
            };
            cli::activate(
                &control,
                &who(Role::Operator)?,
                &app,
                &action,
                &reason,
                mode,
            )
        }
        SwitchCmd::Approve { id } => cli::approve(&control, &who(Role::Operator)?, &id),
        SwitchCmd::Revert { id, reason } => {
            cli::revert(&control, &who(Role::Operator)?, id, &reason)
        }
        SwitchCmd::Audit { app, limit } => cli::audit(&control, app.as_deref(), limit),
        SwitchCmd::RotateKey => {
            who(Role::Admin)?;
            cli::rotate_key(&control)
        }
        SwitchCmd::RetireKey { key_id } => {
            who(Role::Admin)?;
            cli::retire_key(&control, &key_id)
        }
    };
    println!("{}", out.map_err(|e| anyhow::anyhow!(e.parts(lang).1))?);
    Ok(())
}

fn users_cmd(cfg: Config, cmd: UsersCmd) -> Result<()> {
    let lang = cfg.lang();
    let cp = server::control_plane(&cfg)?;
    match cmd {
        UsersCmd::Create { name, role, .. } => {
            let r = Role::parse(&role)
                .with_context(|| format!("role '{role}' must be viewer, operator or admin"))?;
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                bail!(
                    Msg::CliUserPasswordPrompt
                        .render(lang, &[("min", &vitals_store::users::MIN_PASSWORD_CHARS)])
                );
            }
            // The store refuses these too; here they are told in the
            // user's language.
            use vitals_store::users::{MIN_PASSWORD_CHARS, PasswordProblem, password_problem};
            match password_problem(&name, password) {
                None => {}
                Some(PasswordProblem::TooShort) => {
                    bail!(Msg::CliUserPasswordShort.render(lang, &[("min", &MIN_PASSWORD_CHARS)]))
                }
                Some(PasswordProblem::HasName) => bail!(Msg::CliUserPasswordHasName.text(lang)),
                Some(PasswordProblem::Common) => bail!(Msg::CliUserPasswordCommon.text(lang)),
            }
            cp.create_user(&name, r, password)?;
            println!(
                "{}",
                Msg::CliUserCreated.render(lang, &[("name", &name), ("role", &r.as_str())])
            );
        }
        UsersCmd::List => {
            for u in cp.users()? {
                let state = if u.disabled { "disabled" } else { "active" };
                println!("{}\t{}\t{state}", u.name, u.role.as_str());
            }
        }
        UsersCmd::Disable { name } => cp.set_user_disabled(&name, true)?,
    }
    Ok(())
}

async fn simulate_cmd(a: SimulateArgs) -> Result<()> {
    let lang = a.lang.as_deref().and_then(Lang::parse).unwrap_or_default();
    let cfg = simulate::SimConfig {
        target: a.url,
        app_id: a.app,
        key_id: a.key_id,
        key_secret: a.key_secret,
        seed: a.seed,
        devices: a.devices,
        batches: a.batches,
        duration_secs: a.duration_secs,
        events_per_batch: a.events_per_batch,
        concurrency: a.concurrency,
        rate: a.rate,
        gzip: !a.no_gzip,
        ..Default::default()
    };
    let report = simulate::run(cfg).await?;
    println!("{}", report.render(lang));
    if let Some(path) = a.report {
        std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if report.batches_sent > 0 && report.batches_accepted == 0 {
        bail!("no batch was accepted");
    }
    Ok(())
}
