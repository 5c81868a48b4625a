//! Everything the rules need about one release, gathered from the store in
//! a fixed set of aggregation queries (run concurrently) plus the control
//! plane's release metadata and crash-group states.

use crate::stats::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use vitals_store::query::{AggRow, Col, Cond, Dim, Filter, Measure, Query};
use vitals_store::releases::{GroupState, GroupStatus, MinVersion, PackageSize};
use vitals_store::{ControlPlane, Store, StoreError};

/// A release as users name it: `1.2.0` or `1.2.0+120`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseRef {
    pub version: String,
    pub build: Option<String>,
}

impl ReleaseRef {
    pub fn parse(s: &str) -> ReleaseRef {
        match s.split_once('+') {
            Some((v, b)) => ReleaseRef {
                version: v.to_string(),
                build: Some(b.to_string()),
            },
            None => ReleaseRef {
                version: s.to_string(),
                build: None,
            },
        }
    }

    pub fn label(&self) -> String {
        match &self.build {
            Some(b) => format!("{}+{b}", self.version),
            None => self.version.clone(),
        }
    }
}

/// Compares version strings numerically part by part (`5.10.0` > `5.9.1`).
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |s: &str| -> Vec<u64> {
        s.split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    parts(a).cmp(&parts(b)).then_with(|| a.cmp(b))
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ModelCrash {
    pub model: String,
    pub sessions: u64,
    pub crashed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupFact {
    pub fingerprint: String,
    pub exception_type: String,
    pub events: u64,
    pub users: u64,
    /// Affected users ÷ active users of the release (5.1b).
    pub share: f64,
    pub urgent: bool,
    pub first_seen: u32,
    pub last_seen: u32,
    /// Lifecycle (5.1c): new, open, resolved, regressed, ignored, merged.
    pub state: &'static str,
    /// First release the group was seen in.
    pub first_release: String,
    pub resolved_in: Option<String>,
    /// Seconds from first sighting to resolution.
    pub time_to_fix_secs: Option<i64>,
    /// For an urgent group not resolved, ignored or merged: days from its
    /// first sighting in any release to its last crash in this one (5.1c
    /// time to fix).
    pub open_days: Option<f64>,
}

/// One cell of the compatibility matrix.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub clause: &'static str,
    pub name: String,
    pub sessions: u64,
    pub crashed: u64,
    pub observed: bool,
    pub healthy: bool,
}

/// A distribution of samples: its histogram for charts and locating
/// percentiles, exact count, sum and sum of squares for the mean and its
/// interval, and where its raw values live for exact percentiles.
#[derive(Debug, Clone, Serialize)]
pub struct Dist {
    pub n: u64,
    pub mean: Option<f64>,
    /// Percentiles read from the histogram (±0.5 %), for charts and tables;
    /// rules use [`crate::exact`].
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    #[serde(skip)]
    pub sum: f64,
    #[serde(skip)]
    pub sum_sq: f64,
    #[serde(skip)]
    pub hist: Histogram,
    #[serde(skip)]
    pub source: Option<crate::exact::Source>,
}

impl Dist {
    fn from(hist: Histogram, sum: f64, sum_sq: f64, source: Option<crate::exact::Source>) -> Dist {
        let n = hist.count();
        Dist {
            n,
            mean: (n > 0).then(|| sum / n as f64),
            p50: hist.quantile(0.5),
            p90: hist.quantile(0.9),
            p99: hist.quantile(0.99),
            sum,
            sum_sq,
            hist,
            source,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelMean {
    pub model: String,
    pub mean: f64,
    pub n: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatencyCell {
    pub category: String,
    pub site: String,
    pub ip_family: String,
    pub dist: Dist,
}

/// Third-party SDK initialisation in cold starts (5.7c).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SdkInit {
    /// Cold starts that reported spans.
    pub cold_starts: u64,
    /// Milliseconds in spans named `sdk:…`.
    pub sdk_ms: f64,
    /// Their cold starts' total milliseconds.
    pub total_ms: f64,
}

/// Requests of one service category at one site, and how many failed.
#[derive(Debug, Clone, Serialize)]
pub struct RequestErrors {
    pub category: String,
    pub site: String,
    pub requests: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Patch {
    pub patch_id: String,
    pub offered: u64,
    pub downloaded: u64,
    pub applied: u64,
    pub failed: u64,
    pub rolled_back: u64,
    pub max_bytes: u64,
}

/// All facts about one release.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub app: String,
    pub release: ReleaseRef,
    pub sessions: u64,
    pub crashed_sessions: u64,
    pub abnormal_sessions: u64,
    /// Sessions on rooted or jailbroken devices and emulators (4.2.3),
    /// whether or not the scope leaves them out.
    pub untrusted_sessions: u64,
    /// Sessions with and without such devices.
    pub all_sessions: u64,
    /// Cold starts that reported a breakdown, and the time their
    /// third-party SDKs took to initialise against their total (5.7c).
    pub sdk_init: SdkInit,
    pub users: u64,
    pub crashed_users: u64,
    pub fatal_crashes: u64,
    pub models: Vec<ModelCrash>,
    pub groups: Vec<GroupFact>,
    pub cells: Vec<Cell>,
    pub cold_start: Dist,
    pub cold_start_by_model: Vec<(String, Dist)>,
    pub cpu: Dist,
    pub memory: Dist,
    pub install_by_model: Vec<ModelMean>,
    pub packages: Vec<PackageSize>,
    pub latency: BTreeMap<String, Dist>,
    pub latency_cells: Vec<LatencyCell>,
    /// Requests and failed requests (transport errors, timeouts, 5xx) per
    /// service category and site.
    pub request_errors: Vec<RequestErrors>,
    pub notes: Option<String>,
    pub min_version: Option<MinVersion>,
    pub patches: Vec<Patch>,
    /// In-app upgrade prompts of an older release (5.4b).
    pub upgrade: crate::upgrade::UpgradePrompts,
}

/// Options of a gathering.
#[derive(Debug, Clone)]
pub struct Scope {
    pub exclude_untrusted: bool,
    /// Sessions a compatibility cell needs to count as observed.
    pub cell_min_sessions: u64,
    /// The 5.1a per-session rule's limit: a compatibility cell is healthy
    /// when its crash rate does not fail it.
    pub crash: crate::judge::Limit,
    /// The 5.1b rule's limit: a group is urgent when [`crate::judge`] fails
    /// its share of affected users.
    pub urgent: crate::judge::Limit,
    /// Only events in this time range (Unix seconds, inclusive); alerts
    /// evaluate a window, releases their whole life.
    pub since: Option<u32>,
    pub until: Option<u32>,
}

impl Default for Scope {
    fn default() -> Self {
        Scope {
            exclude_untrusted: false,
            cell_min_sessions: 100,
            crash: standard_limit(crate::policy::Metric::CrashRatePerSession),
            urgent: standard_limit(crate::policy::Metric::CrashGroupUserShare),
            since: None,
            until: None,
        }
    }
}

/// The built-in policy's limit for `metric`.
fn standard_limit(metric: crate::policy::Metric) -> crate::judge::Limit {
    crate::policy::Policy::standard()
        .rules
        .iter()
        .find(|r| r.metric == metric)
        .map(|r| r.limit())
        .expect("the standard has a rule for every metric the scope reads")
}

fn q(filter: &Filter, group_by: Vec<Dim>, measures: Vec<Measure>) -> Query {
    Query {
        filter: filter.clone(),
        group_by,
        measures,
        order_by_measure: None,
        limit: None,
    }
}

fn with_kinds(f: &Filter, kinds: &[&str]) -> Filter {
    Filter {
        kinds: kinds.iter().map(|k| k.to_string()).collect(),
        ..f.clone()
    }
}

fn hist(rows: &[AggRow], dim: usize, count: usize) -> Histogram {
    Histogram::new(
        rows.iter()
            .filter_map(|r| r.dim(dim).parse::<i16>().ok().map(|b| (b, r.count(count))))
            .filter(|(_, c)| *c > 0)
            .collect(),
    )
}

/// A histogram under construction with its value sum and sum of squares.
type Acc = (BTreeMap<i16, u64>, f64, f64);

/// The raw rows behind a distribution of the release filter `f`.
fn source(f: &Filter, kind: &str, col: Col, conds: Vec<Cond>, bucket: Dim) -> crate::exact::Source {
    crate::exact::Source {
        filter: with_kinds(f, &[kind]),
        col,
        conds,
        bucket,
    }
}

/// Gathers the facts of `release` of `app`.
pub async fn gather(
    store: &dyn Store,
    cp: &ControlPlane,
    app: &str,
    release: &ReleaseRef,
    scope: &Scope,
) -> Result<Facts, StoreError> {
    let f = Filter {
        app_id: app.to_string(),
        version: Some(release.version.clone()),
        build: release.build.clone(),
        exclude_untrusted: scope.exclude_untrusted,
        since: scope.since,
        until: scope.until,
        ..Default::default()
    };
    // Each query has a shape a rollup answers (sessions per release and
    // dimension, users per release, samples per bucket), so the gate does
    // not read the release's raw rows; only crash rows (few) are read raw.
    let summary = q(
        &with_kinds(&f, &["session"]),
        vec![],
        vec![
            Measure::Count(Some(Cond::SessionStart)),
            Measure::Count(Some(Cond::SessionCrashed)),
            Measure::Count(Some(Cond::SessionAbnormal)),
        ],
    );
    // 4.2.3: sessions on rooted/jailbroken devices and emulators, from all
    // sessions and the trusted ones (whatever the scope leaves out).
    let trust = |exclude_untrusted| {
        q(
            &Filter {
                exclude_untrusted,
                ..with_kinds(&f, &["session"])
            },
            vec![],
            vec![Measure::Count(Some(Cond::SessionStart))],
        )
    };
    let (all_q, trusted_q) = (trust(false), trust(true));
    // 5.7c: third-party SDK initialisation in cold starts with a breakdown.
    let sdk_q = q(
        &with_kinds(&f, &["cold_start"]),
        vec![],
        vec![
            Measure::Count(Some(Cond::ColdStartWithSpans)),
            Measure::Sum(Col::Value, Some(Cond::ColdStartWithSpans)),
            Measure::Sum(Col::DurationMs, Some(Cond::ColdStartWithSpans)),
        ],
    );
    // Active users are users with a session or a crash in the release.
    let users_q = q(
        &with_kinds(&f, &["session", "crash"]),
        vec![],
        vec![
            Measure::Users(None),
            Measure::Users(Some(Cond::CrashedUser)),
        ],
    );
    let fatal_q = q(
        &with_kinds(&f, &["crash"]),
        vec![],
        vec![Measure::Count(Some(Cond::FatalCrash))],
    );
    let sessions_f = with_kinds(&f, &["session"]);
    let by_model = q(
        &sessions_f,
        vec![Dim::DeviceModel],
        vec![
            Measure::Count(Some(Cond::SessionStart)),
            Measure::Count(Some(Cond::SessionCrashed)),
        ],
    );
    let groups = Query {
        order_by_measure: Some(1),
        limit: Some(500),
        ..q(
            &with_kinds(&f, &["crash"]),
            vec![Dim::Fingerprint, Dim::ExceptionType],
            vec![
                Measure::Count(Some(Cond::FatalCrash)),
                Measure::Users(Some(Cond::FatalCrash)),
                Measure::Min(Col::Ts, Some(Cond::FatalCrash)),
                Measure::Max(Col::Ts, Some(Cond::FatalCrash)),
            ],
        )
    };
    let app_only = Filter {
        app_id: app.to_string(),
        exclude_untrusted: scope.exclude_untrusted,
        ..Default::default()
    };
    let lifecycle = q(
        &with_kinds(&app_only, &["crash"]),
        vec![Dim::Fingerprint, Dim::Version],
        vec![
            Measure::Count(Some(Cond::FatalCrash)),
            Measure::Min(Col::Ts, Some(Cond::FatalCrash)),
        ],
    );
    let compat = q(
        &sessions_f,
        vec![
            Dim::Platform,
            Dim::DeviceClass,
            Dim::OsMajor,
            Dim::ScreenClass,
            Dim::NetFamily,
        ],
        vec![
            Measure::Count(Some(Cond::SessionStart)),
            Measure::Count(Some(Cond::SessionCrashed)),
        ],
    );
    let cold = q(
        &with_kinds(&f, &["cold_start"]),
        vec![Dim::DeviceModel, Dim::BucketA],
        vec![
            Measure::Count(None),
            Measure::Sum(Col::DurationMs, None),
            Measure::SumSq(Col::DurationMs, None),
        ],
    );
    let perf_f = with_kinds(&f, &["perf"]);
    let cpu = q(
        &perf_f,
        vec![Dim::BucketA],
        vec![
            Measure::Count(Some(Cond::HasCpu)),
            Measure::Sum(Col::CpuPct, Some(Cond::HasCpu)),
            Measure::SumSq(Col::CpuPct, Some(Cond::HasCpu)),
        ],
    );
    let mem = q(
        &perf_f,
        vec![Dim::BucketB],
        vec![
            Measure::Count(Some(Cond::HasMemory)),
            Measure::Sum(Col::MemoryMb, Some(Cond::HasMemory)),
            Measure::SumSq(Col::MemoryMb, Some(Cond::HasMemory)),
        ],
    );
    let install = q(
        &with_kinds(&f, &["install"]),
        vec![Dim::DeviceModel, Dim::Platform, Dim::Abi],
        vec![
            Measure::Count(None),
            // The sum, not the average: avg × n would round before the
            // per-model mean is taken.
            Measure::Sum(Col::DurationMs, None),
            Measure::Max(Col::PackageBytes, None),
        ],
    );
    // 5.3f: response times of answered requests; failures have their own
    // rate below.
    let answered = Filter {
        completed_requests: true,
        ..f.clone()
    };
    let latency = q(
        &with_kinds(&answered, &["network"]),
        vec![Dim::Category, Dim::Site, Dim::ReqFamily, Dim::BucketA],
        vec![
            Measure::Count(None),
            Measure::Sum(Col::DurationMs, None),
            Measure::SumSq(Col::DurationMs, None),
        ],
    );
    let req_errors = q(
        &with_kinds(&f, &["network"]),
        vec![Dim::Category, Dim::Site],
        vec![
            Measure::Count(None),
            Measure::Count(Some(Cond::RequestFailed)),
        ],
    );
    // 5.4e: a patch is judged over its whole funnel, whatever release each
    // stage was reported from (a device that applies a patch and restarts
    // reports the later stages from the patched release): the patches the
    // release saw, with their stages counted app-wide.
    let release_patches = q(
        &with_kinds(&f, &["hot_update"]),
        vec![Dim::PatchId],
        vec![Measure::Count(None)],
    );
    let patches = q(
        &with_kinds(
            &Filter {
                since: scope.since,
                until: scope.until,
                ..app_only.clone()
            },
            &["hot_update"],
        ),
        vec![Dim::PatchId],
        vec![
            Measure::Installs(Some(Cond::Stage("offered".into()))),
            Measure::Installs(Some(Cond::Stage("downloaded".into()))),
            Measure::Installs(Some(Cond::Stage("applied".into()))),
            Measure::Installs(Some(Cond::Stage("failed".into()))),
            Measure::Installs(Some(Cond::Stage("rolled_back".into()))),
            Measure::Max(Col::PackageBytes, None),
        ],
    );
    let (
        (summary, users_r, fatal_r, req_errors, release_patches, all_r, trusted_r, sdk_r),
        (by_model, groups, lifecycle, compat, cold, cpu, mem, install, latency, patches),
        upgrade,
    ) = tokio::try_join!(
        async {
            tokio::try_join!(
                store.aggregate(&summary),
                store.aggregate(&users_q),
                store.aggregate(&fatal_q),
                store.aggregate(&req_errors),
                store.aggregate(&release_patches),
                store.aggregate(&all_q),
                store.aggregate(&trusted_q),
                store.aggregate(&sdk_q),
            )
        },
        async {
            tokio::try_join!(
                store.aggregate(&by_model),
                store.aggregate(&groups),
                store.aggregate(&lifecycle),
                store.aggregate(&compat),
                store.aggregate(&cold),
                store.aggregate(&cpu),
                store.aggregate(&mem),
                store.aggregate(&install),
                store.aggregate(&latency),
                store.aggregate(&patches),
            )
        },
        crate::upgrade::gather(store, cp, &f, &release.version),
    )?;
    let first = |rows: &[AggRow]| {
        rows.first().cloned().unwrap_or(AggRow {
            dims: vec![],
            values: vec![],
        })
    };
    let (s, u, fc) = (first(&summary), first(&users_r), first(&fatal_r));
    let users = u.count(0);
    let meta = cp.releases(app)?.into_iter().find(|m| {
        m.version == release.version && release.build.as_ref().is_none_or(|b| *b == m.build)
    });
    let states = cp.group_states(app)?;

    let mut models: Vec<ModelCrash> = by_model
        .iter()
        .map(|r| ModelCrash {
            model: r.dim(0).to_string(),
            sessions: r.count(0),
            crashed: r.count(1),
        })
        .collect();
    models.sort_by(|a, b| b.crashed.cmp(&a.crashed).then(a.model.cmp(&b.model)));

    let groups = crate::lifecycle::groups(
        &groups,
        &lifecycle,
        &states,
        &release.version,
        users,
        &scope.urgent,
    );
    let cells = crate::compat::cells(&compat, scope, meta.as_ref());

    let mut cold_all: Acc = Default::default();
    let mut cold_models: BTreeMap<String, Acc> = BTreeMap::new();
    for r in &cold {
        let Ok(b) = r.dim(1).parse::<i16>() else {
            continue;
        };
        let (n, sum, sq) = (
            r.count(0),
            r.value(1).unwrap_or(0.0),
            r.value(2).unwrap_or(0.0),
        );
        for acc in [
            &mut cold_all,
            cold_models.entry(r.dim(0).to_string()).or_default(),
        ] {
            *acc.0.entry(b).or_default() += n;
            acc.1 += sum;
            acc.2 += sq;
        }
    }
    let to_dist = |(h, sum, sq): Acc, src: Option<crate::exact::Source>| {
        Dist::from(
            Histogram::new(h.into_iter().filter(|(_, c)| *c > 0).collect()),
            sum,
            sq,
            src,
        )
    };
    let cold_start = to_dist(
        cold_all,
        Some(source(
            &f,
            "cold_start",
            Col::DurationMs,
            vec![],
            Dim::BucketA,
        )),
    );
    let cold_start_by_model = cold_models
        .into_iter()
        .map(|(m, acc)| (m, to_dist(acc, None)))
        .collect();
    let col_sum =
        |rows: &[AggRow], i: usize| rows.iter().map(|r| r.value(i).unwrap_or(0.0)).sum::<f64>();
    let cpu = Dist::from(
        hist(&cpu, 0, 0),
        col_sum(&cpu, 1),
        col_sum(&cpu, 2),
        Some(source(
            &f,
            "perf",
            Col::CpuPct,
            vec![Cond::HasCpu],
            Dim::BucketA,
        )),
    );
    let memory = Dist::from(
        hist(&mem, 0, 0),
        col_sum(&mem, 1),
        col_sum(&mem, 2),
        Some(source(
            &f,
            "perf",
            Col::MemoryMb,
            vec![Cond::HasMemory],
            Dim::BucketB,
        )),
    );

    // Install time: one mean per model (weighted over platform/ABI rows).
    let mut per_model: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    let mut observed_sizes: BTreeMap<(String, String), u64> = BTreeMap::new();
    for r in &install {
        let n = r.count(0);
        let e = per_model.entry(r.dim(0).to_string()).or_default();
        e.0 += r.value(1).unwrap_or(0.0);
        e.1 += n;
        let size = r.value(2).unwrap_or(0.0) as u64;
        let k = (r.dim(1).to_string(), r.dim(2).to_string());
        let v = observed_sizes.entry(k).or_default();
        *v = (*v).max(size);
    }
    let install_by_model = per_model
        .into_iter()
        .filter(|(_, (_, n))| *n > 0)
        .map(|(model, (sum, n))| ModelMean {
            model,
            mean: sum / n as f64,
            n,
        })
        .collect();
    let packages = match &meta {
        Some(m) if !m.package_sizes.is_empty() => m.package_sizes.clone(),
        _ => observed_sizes
            .into_iter()
            .map(|((platform, abi), bytes)| PackageSize {
                platform,
                abi,
                bytes,
            })
            .collect(),
    };

    let mut lat_cat: BTreeMap<String, Acc> = BTreeMap::new();
    let mut lat_cells: BTreeMap<(String, String, String), Acc> = BTreeMap::new();
    for r in &latency {
        let Ok(b) = r.dim(3).parse::<i16>() else {
            continue;
        };
        let (n, sum, sq) = (
            r.count(0),
            r.value(1).unwrap_or(0.0),
            r.value(2).unwrap_or(0.0),
        );
        let cell = (
            r.dim(0).to_string(),
            r.dim(1).to_string(),
            r.dim(2).to_string(),
        );
        for acc in [
            lat_cat.entry(r.dim(0).to_string()).or_default(),
            lat_cells.entry(cell).or_default(),
        ] {
            *acc.0.entry(b).or_default() += n;
            acc.1 += sum;
            acc.2 += sq;
        }
    }
    let latency = lat_cat
        .into_iter()
        .map(|(k, v)| {
            let src = source(
                &answered,
                "network",
                Col::DurationMs,
                vec![Cond::Category(k.clone())],
                Dim::BucketA,
            );
            (k, to_dist(v, Some(src)))
        })
        .collect();
    let latency_cells = lat_cells
        .into_iter()
        .map(|((category, site, ip_family), v)| LatencyCell {
            category,
            site,
            ip_family,
            dist: to_dist(v, None),
        })
        .collect();
    let seen: std::collections::BTreeSet<&str> = release_patches
        .iter()
        .filter(|r| r.count(0) > 0)
        .map(|r| r.dim(0))
        .collect();
    let patches = patches
        .iter()
        .filter(|r| seen.contains(r.dim(0)))
        .map(|r| Patch {
            patch_id: r.dim(0).to_string(),
            offered: r.count(0),
            downloaded: r.count(1),
            applied: r.count(2),
            failed: r.count(3),
            rolled_back: r.count(4),
            max_bytes: r.value(5).unwrap_or(0.0) as u64,
        })
        .collect();

    Ok(Facts {
        app: app.to_string(),
        release: release.clone(),
        sessions: s.count(0),
        crashed_sessions: s.count(1),
        abnormal_sessions: s.count(2),
        all_sessions: first(&all_r).count(0),
        untrusted_sessions: first(&all_r)
            .count(0)
            .saturating_sub(first(&trusted_r).count(0)),
        sdk_init: {
            let r = first(&sdk_r);
            SdkInit {
                cold_starts: r.count(0),
                sdk_ms: r.value(1).unwrap_or(0.0),
                total_ms: r.value(2).unwrap_or(0.0),
            }
        },
        users,
        crashed_users: u.count(1),
        fatal_crashes: fc.count(0),
        models,
        groups,
        cells,
        cold_start,
        cold_start_by_model,
        cpu,
        memory,
        install_by_model,
        packages,
        latency,
        latency_cells,
        request_errors: req_errors
            .iter()
            .filter(|r| r.count(0) > 0)
            .map(|r| RequestErrors {
                category: r.dim(0).to_string(),
                site: r.dim(1).to_string(),
                requests: r.count(0),
                failed: r.count(1),
            })
            .collect(),
        notes: meta.as_ref().map(|m| m.notes.clone()),
        min_version: meta.and_then(|m| m.min_version),
        patches,
        upgrade,
    })
}

/// Whether a group resolved by `state` has regressed in `version`, whose
/// last fatal crash in the group was at `last_crash` (Unix seconds): it
/// crashed after the moment it was resolved, in the release it was resolved
/// in or a later one (5.1c). Older releases without the fix crashing on are
/// not regressions. A resolution without a time (older data) counts crashes
/// in later releases only.
pub fn regressed(state: &GroupState, version: &str, last_crash: i64) -> bool {
    if state.status != GroupStatus::Resolved {
        return false;
    }
    let release = state.resolved_in.as_deref();
    match state.resolved_at {
        Some(at) => release.is_none_or(|r| compare_versions(version, r).is_ge()) && last_crash > at,
        None => release.is_some_and(|r| compare_versions(version, r).is_gt()),
    }
}
