//! The queries behind the pages that the analyzer does not already answer:
//! daily series, filtered crash-group lists and one group's detail. All are
//! aggregations the store pushes down (`vitals_store::query`).

use crate::St;
use crate::error::WebError;
use std::collections::{BTreeMap, BTreeSet};
use vitals_analyzer::facts::{ReleaseRef, compare_versions};
use vitals_analyzer::lifecycle;
use vitals_analyzer::policy::Metric;
use vitals_store::query::{AggRow, Col, Cond, Dim, Filter, Measure, Query};

fn q(filter: Filter, group_by: Vec<Dim>, measures: Vec<Measure>) -> Query {
    Query {
        filter,
        group_by,
        measures,
        ..Default::default()
    }
}

fn release_filter(app: &str, r: &ReleaseRef) -> Filter {
    Filter {
        app_id: app.to_string(),
        version: Some(r.version.clone()),
        build: r.build.clone(),
        ..Default::default()
    }
}

fn kinds(f: &Filter, k: &[&str]) -> Filter {
    Filter {
        kinds: k.iter().map(|s| s.to_string()).collect(),
        ..f.clone()
    }
}

/// Release labels with data, oldest first.
pub async fn release_labels(st: &St, app: &str) -> Result<Vec<String>, WebError> {
    Ok(st.analyzer.versions(app).await?)
}

/// The release asked for, else the newest with data.
pub async fn pick_release(
    st: &St,
    app: &str,
    asked: Option<&str>,
) -> Result<(String, Vec<String>), WebError> {
    let all = release_labels(st, app).await?;
    let r = match asked.filter(|s| !s.is_empty()) {
        Some(r) => r.to_string(),
        None => all
            .last()
            .cloned()
            .ok_or_else(|| WebError::NotFound(format!("releases of {app}")))?,
    };
    Ok((r, all))
}

/// Per-day figures of one release.
#[derive(Debug, Default)]
pub struct Daily {
    pub days: Vec<String>,
    pub sessions: Vec<u64>,
    pub crashed: Vec<u64>,
    pub users: Vec<u64>,
    pub crashed_users: Vec<u64>,
    /// Users of this release ÷ users of every release, that day.
    pub adoption: Vec<Option<f64>>,
}

pub async fn daily(st: &St, app: &str, r: &ReleaseRef) -> Result<Daily, WebError> {
    let tz = st.analyzer.timezone.clone();
    let f = release_filter(app, r);
    let sessions = q(
        kinds(&f, &["session"]),
        vec![Dim::Day(tz.clone())],
        vec![
            Measure::Count(Some(Cond::SessionStart)),
            Measure::Count(Some(Cond::SessionCrashed)),
        ],
    );
    let users = q(
        f.clone(),
        vec![Dim::Day(tz.clone())],
        // Charts read the day sketches (approximate on ClickHouse); the
        // scorecard's figures come from the analyzer's exact counts.
        vec![
            Measure::UsersApprox(None),
            Measure::UsersApprox(Some(Cond::CrashedUser)),
        ],
    );
    let all = q(
        Filter {
            app_id: app.to_string(),
            since: None,
            ..Default::default()
        },
        vec![Dim::Day(tz)],
        vec![Measure::UsersApprox(None)],
    );
    let store = &st.analyzer.store;
    let (s, u, a) = tokio::try_join!(
        store.aggregate(&sessions),
        store.aggregate(&users),
        store.aggregate(&all)
    )?;
    let by_day = |rows: &[AggRow]| -> BTreeMap<String, AggRow> {
        rows.iter()
            .map(|r| (r.dim(0).to_string(), r.clone()))
            .collect()
    };
    let (s, u, a) = (by_day(&s), by_day(&u), by_day(&a));
    let days: BTreeSet<&String> = s.keys().chain(u.keys()).collect();
    let mut d = Daily::default();
    for day in days {
        let srow = s.get(day);
        let urow = u.get(day);
        d.sessions.push(srow.map(|r| r.count(0)).unwrap_or(0));
        d.crashed.push(srow.map(|r| r.count(1)).unwrap_or(0));
        let users = urow.map(|r| r.count(0)).unwrap_or(0);
        d.users.push(users);
        d.crashed_users.push(urow.map(|r| r.count(1)).unwrap_or(0));
        let total = a.get(day).map(|r| r.count(0)).unwrap_or(0);
        d.adoption
            .push((total > 0).then(|| users as f64 / total as f64));
        d.days.push(day.clone());
    }
    Ok(d)
}

/// Filters of the crash-group list.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct GroupFilter {
    #[serde(default)]
    pub release: Option<String>,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub os: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// One crash group of the list.
#[derive(Debug, Clone)]
pub struct GroupRow {
    pub fingerprint: String,
    pub exception: String,
    pub events: u64,
    pub users: u64,
    pub devices: u64,
    pub share: f64,
    pub urgent: bool,
    pub first_seen: u32,
    pub last_seen: u32,
    pub state: &'static str,
    pub first_release: String,
}

/// The list and the choices its filters offer.
#[derive(Debug, Default)]
pub struct GroupList {
    pub groups: Vec<GroupRow>,
    pub active_users: u64,
    pub urgent_share: f64,
    pub platforms: Vec<String>,
    pub models: Vec<String>,
    pub os: Vec<String>,
}

/// The policy's 5.1b rule for the app, read as the gate reads it.
pub fn urgent_limit(st: &St, app: &str) -> vitals_analyzer::judge::Limit {
    st.analyzer
        .policy
        .rules_for(app)
        .iter()
        .find(|r| r.metric == Metric::CrashGroupUserShare)
        .map(|r| r.limit())
        .unwrap_or_else(|| vitals_analyzer::facts::Scope::default().urgent)
}

/// Crash groups of a release under the filters, most affected users first.
pub async fn groups(
    st: &St,
    app: &str,
    r: &ReleaseRef,
    gf: &GroupFilter,
) -> Result<GroupList, WebError> {
    let base = release_filter(app, r);
    let crash = Filter {
        platforms: nonempty(&gf.platform)
            .map(|p| vec![p.to_string()])
            .unwrap_or_default(),
        ..kinds(&base, &["crash"])
    };
    let (model, os) = (nonempty(&gf.model), nonempty(&gf.os));
    let mut dims = vec![Dim::Fingerprint, Dim::ExceptionType];
    if model.is_some() {
        dims.push(Dim::DeviceModel);
    }
    if os.is_some() {
        dims.push(Dim::OsMajor);
    }
    let list = q(
        crash.clone(),
        dims,
        vec![
            Measure::Count(Some(Cond::FatalCrash)),
            Measure::Users(Some(Cond::FatalCrash)),
            Measure::Min(Col::Ts, Some(Cond::FatalCrash)),
            Measure::Max(Col::Ts, Some(Cond::FatalCrash)),
            Measure::Installs(Some(Cond::FatalCrash)),
        ],
    );
    let choices = q(
        kinds(&base, &["crash"]),
        vec![Dim::Platform, Dim::DeviceModel, Dim::OsMajor],
        vec![Measure::Count(Some(Cond::FatalCrash))],
    );
    // Active users as the gate counts them: users with a session or a crash.
    let active = q(
        kinds(&base, &["session", "crash"]),
        vec![],
        vec![Measure::Users(None)],
    );
    let history = q(
        Filter {
            app_id: app.to_string(),
            kinds: vec!["crash".into()],
            ..Default::default()
        },
        vec![Dim::Fingerprint, Dim::Version],
        vec![
            Measure::Count(Some(Cond::FatalCrash)),
            Measure::Min(Col::Ts, Some(Cond::FatalCrash)),
        ],
    );
    let store = &st.analyzer.store;
    let (rows, choices, active, history) = tokio::try_join!(
        store.aggregate(&list),
        store.aggregate(&choices),
        store.aggregate(&active),
        store.aggregate(&history)
    )?;
    let states = st.analyzer.cp.group_states(app)?;
    let active_users = active.first().map(|r| r.count(0)).unwrap_or(0);
    let urgent = urgent_limit(st, app);
    let first = lifecycle::first_releases(&history);
    let mut groups: Vec<GroupRow> = rows
        .iter()
        .filter(|row| row.count(0) > 0)
        .filter(|row| {
            let mut i = 2;
            let mut ok = true;
            if let Some(m) = model {
                ok &= row.dim(i) == m;
                i += 1;
            }
            if let Some(o) = os {
                ok &= row.dim(i) == o;
            }
            ok
        })
        .map(|row| {
            let fp = row.dim(0).to_string();
            let users = row.count(1);
            let share = if active_users == 0 {
                0.0
            } else {
                users as f64 / active_users as f64
            };
            let first_release = first
                .get(fp.as_str())
                .map(|f| f.0.clone())
                .unwrap_or_else(|| r.version.clone());
            GroupRow {
                state: lifecycle::state_of(
                    states.iter().find(|s| s.fingerprint == fp),
                    &first_release,
                    &r.version,
                    row.value(3).unwrap_or(0.0) as i64,
                ),
                exception: row.dim(1).to_string(),
                events: row.count(0),
                users,
                devices: row.count(4),
                share,
                urgent: lifecycle::is_urgent(&urgent, users, active_users),
                first_seen: row.value(2).unwrap_or(0.0) as u32,
                last_seen: row.value(3).unwrap_or(0.0) as u32,
                first_release,
                fingerprint: fp,
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        b.users
            .cmp(&a.users)
            .then(b.events.cmp(&a.events))
            .then(a.fingerprint.cmp(&b.fingerprint))
    });
    let mut platforms = BTreeSet::new();
    let mut models = BTreeSet::new();
    let mut oss = BTreeSet::new();
    for c in choices.iter().filter(|c| c.count(0) > 0) {
        platforms.insert(c.dim(0).to_string());
        if nonempty(&gf.platform).is_none_or(|p| p == c.dim(0)) {
            models.insert(c.dim(1).to_string());
            oss.insert(c.dim(2).to_string());
        }
    }
    let mut os: Vec<String> = oss.into_iter().collect();
    os.sort_by_key(|o| o.parse::<u32>().unwrap_or(0));
    Ok(GroupList {
        groups,
        active_users,
        urgent_share: urgent.threshold,
        platforms: platforms.into_iter().collect(),
        models: models.into_iter().collect(),
        os,
    })
}

/// One group in detail.
#[derive(Debug, Default)]
pub struct GroupDetail {
    pub events: u64,
    pub users: u64,
    pub devices: u64,
    pub first_seen: u32,
    pub last_seen: u32,
    /// (model, users, events)
    pub models: Vec<(String, u64, u64)>,
    /// (platform, OS major, users, events)
    pub os: Vec<(String, String, u64, u64)>,
    /// (version, users, events, first seen, last seen)
    pub releases: Vec<(String, u64, u64, u32, u32)>,
    pub sample: Option<vitals_store::CrashSample>,
}

pub async fn group_detail(
    st: &St,
    app: &str,
    fp: &str,
    r: Option<&ReleaseRef>,
) -> Result<GroupDetail, WebError> {
    let f = Filter {
        app_id: app.to_string(),
        version: r.map(|r| r.version.clone()),
        build: r.and_then(|r| r.build.clone()),
        kinds: vec!["crash".into()],
        fingerprint: Some(fp.to_string()),
        ..Default::default()
    };
    let m = |dims: Vec<Dim>, filter: Filter| Query {
        order_by_measure: Some(0),
        limit: Some(20),
        ..q(
            filter,
            dims,
            vec![
                Measure::Users(Some(Cond::FatalCrash)),
                Measure::Count(Some(Cond::FatalCrash)),
                Measure::Min(Col::Ts, Some(Cond::FatalCrash)),
                Measure::Max(Col::Ts, Some(Cond::FatalCrash)),
                Measure::Installs(Some(Cond::FatalCrash)),
            ],
        )
    };
    let all_releases = Filter {
        version: None,
        build: None,
        ..f.clone()
    };
    let store = &st.analyzer.store;
    let (qt, qm, qo, qr) = (
        m(vec![], f.clone()),
        m(vec![Dim::DeviceModel], f.clone()),
        m(vec![Dim::Platform, Dim::OsMajor], f.clone()),
        m(vec![Dim::Version], all_releases),
    );
    let (total, models, os, rels, sample) = tokio::try_join!(
        store.aggregate(&qt),
        store.aggregate(&qm),
        store.aggregate(&qo),
        store.aggregate(&qr),
        store.crash_sample(app, fp, r.map(|r| r.version.as_str())),
    )?;
    let sample = match sample {
        Some(s) => Some(s),
        None => store.crash_sample(app, fp, None).await?,
    };
    let t = total.first();
    let mut releases: Vec<(String, u64, u64, u32, u32)> = rels
        .iter()
        .filter(|x| x.count(1) > 0)
        .map(|x| {
            (
                x.dim(0).to_string(),
                x.count(0),
                x.count(1),
                x.value(2).unwrap_or(0.0) as u32,
                x.value(3).unwrap_or(0.0) as u32,
            )
        })
        .collect();
    releases.sort_by(|a, b| compare_versions(&a.0, &b.0));
    Ok(GroupDetail {
        events: t.map(|x| x.count(1)).unwrap_or(0),
        users: t.map(|x| x.count(0)).unwrap_or(0),
        devices: t.map(|x| x.count(4)).unwrap_or(0),
        first_seen: t.and_then(|x| x.value(2)).unwrap_or(0.0) as u32,
        last_seen: t.and_then(|x| x.value(3)).unwrap_or(0.0) as u32,
        models: models
            .iter()
            .filter(|x| x.count(1) > 0)
            .map(|x| (x.dim(0).to_string(), x.count(0), x.count(1)))
            .collect(),
        os: os
            .iter()
            .filter(|x| x.count(1) > 0)
            .map(|x| {
                (
                    x.dim(0).to_string(),
                    x.dim(1).to_string(),
                    x.count(0),
                    x.count(1),
                )
            })
            .collect(),
        releases,
        sample,
    })
}
