//! Crash groups: the list sorted by affected users (urgent above the 5.1b
//! share), with release / platform / model / OS filters; one group's detail
//! with its stack (in-app frames highlighted, inline frames indented,
//! missing debug files named), who it hits, where and since when, and its
//! lifecycle (resolve, ignore, reopen, merge).

use crate::ctx::{Ctx, guarded, posted, see_other, url_encode};
use crate::data::{self, GroupFilter};
use crate::error::{Localized, WebError};
use crate::layout::{self, Tab, badge};
use crate::pages::{state_badge, urgent_badge};
use crate::{St, fmt};
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use vitals_analyzer::facts::ReleaseRef;
use vitals_i18n::Msg;
use vitals_store::control::Role;
use vitals_store::releases::GroupStatus;

fn select(cx: &Ctx, id: &str, label: Msg, options: &[String], current: Option<&str>) -> Markup {
    html! {
        div {
            label for=(id) { (cx.t(label)) }
            select id=(id) name=(id) data-autosubmit {
                option value="" { (cx.t(Msg::WebAll)) }
                @for o in options {
                    option value=(o) selected[current == Some(o.as_str())] { (o) }
                }
            }
        }
    }
}

pub async fn list(
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<GroupFilter>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let app = path.into_inner();
    let gf = q.into_inner();
    guarded(&req, &st.clone(), Role::Viewer, |cx| async move {
        let (release, all) = data::pick_release(&st, &app, gf.release.as_deref()).await?;
        let r = ReleaseRef::parse(&release);
        let list = data::groups(&st, &app, &r, &gf).await?;
        let a = url_encode(&app);
        let filters = html! {
            form method="get" action=(format!("/ui/apps/{a}/crashes")) class="filters" aria-label=(cx.t(Msg::WebFilters)) {
                (select(&cx, "release", Msg::WebRelease, &all.iter().rev().cloned().collect::<Vec<_>>(), Some(release.as_str())))
                (select(&cx, "platform", Msg::WebPlatform, &list.platforms, gf.platform.as_deref()))
                (select(&cx, "model", Msg::WebModel, &list.models, gf.model.as_deref()))
                (select(&cx, "os", Msg::WebOsMajor, &list.os, gf.os.as_deref()))
                button type="submit" { (cx.t(Msg::WebApply)) }
            }
        };
        let body = html! {
            h1 { (cx.t(Msg::WebCrashGroupsTitle)) " · " (app) " " (release) }
            (layout::tabs(&cx, &app, &release, Tab::Crashes))
            (filters)
            p {
                (cx.r(Msg::WebGroupsSummary, &[
                    ("n", &list.groups.len()),
                    ("urgent", &list.groups.iter().filter(|g| g.urgent).count()),
                    ("users", &fmt::num(list.active_users)),
                    ("share", &fmt::pct(Some(list.urgent_share))),
                ]))
            }
            @if list.groups.is_empty() {
                p { (badge("ok", &cx.t(Msg::WebNoGroups))) }
            } @else {
                table data-testid="crash-groups" {
                    caption class="muted" { (cx.t(Msg::WebSortedByUrgency)) }
                    thead { tr {
                        th { (cx.t(Msg::WebUrgency)) } th { (cx.t(Msg::WebException)) } th class="num" { (cx.t(Msg::WebUsers)) }
                        th class="num" { (cx.t(Msg::WebShare)) } th class="num" { (cx.t(Msg::WebEvents)) } th class="num" { (cx.t(Msg::WebDevices)) }
                        th { (cx.t(Msg::WebFirstSeen)) } th { (cx.t(Msg::WebLastSeen)) } th { (cx.t(Msg::WebState)) } th { (cx.t(Msg::WebFirstRelease)) }
                    } }
                    tbody {
                        @for g in &list.groups {
                            tr class=[g.urgent.then_some("urgent")] {
                                td { (urgent_badge(&cx, g.urgent)) }
                                td {
                                    a href=(format!("/ui/apps/{a}/crashes/{}?release={}", url_encode(&g.fingerprint), url_encode(&release))) { (g.exception) }
                                    " " span class="muted" { (fmt::short(&g.fingerprint)) }
                                }
                                td class="num" { (fmt::num(g.users)) }
                                td class="num" { (fmt::pct(Some(g.share))) }
                                td class="num" { (fmt::num(g.events)) }
                                td class="num" { (fmt::num(g.devices)) }
                                td { (cx.ts(i64::from(g.first_seen))) }
                                td { (cx.ts(i64::from(g.last_seen))) }
                                td { (state_badge(&cx, g.state)) }
                                td { (g.first_release) }
                            }
                        }
                    }
                }
            }
        };
        Ok(layout::page(&cx, &cx.t(Msg::WebCrashGroupsTitle), body))
    })
    .await
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn parse_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

/// The stack as stored: the symbolicated form when the payload carries
/// one, else the threads the device sent.
fn stack(cx: &Ctx, payload: &str) -> Markup {
    let v: Value = serde_json::from_str(payload).unwrap_or(Value::Null);
    let sym = v.get("symbolicated");
    let threads = sym
        .and_then(|x| x.get("threads"))
        .or_else(|| v.get("threads"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let images = v
        .get("images")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let image = |name: &str| images.iter().find(|i| s(i, "name") == Some(name));
    // Images whose frames could not be named: their debug files are missing.
    let mut missing: Vec<(String, String)> = Vec::new();
    if let Some(m) = sym.and_then(|x| x.get("missing")).and_then(Value::as_array) {
        for f in m {
            let name = s(f, "name")
                .or_else(|| s(f, "image"))
                .unwrap_or("?")
                .to_string();
            let id = s(f, "debug_id")
                .or_else(|| s(f, "id"))
                .unwrap_or("")
                .to_string();
            missing.push((name, id));
        }
    }
    let mut sorted: Vec<&Value> = threads.iter().collect();
    sorted.sort_by_key(|t| !t.get("crashed").and_then(Value::as_bool).unwrap_or(false));
    let body = html! {
        @for t in sorted {
            @let crashed = t.get("crashed").and_then(Value::as_bool).unwrap_or(false);
            @let frames = t.get("frames").and_then(Value::as_array).cloned().unwrap_or_default();
            h3 {
                (cx.t(Msg::WebThread)) " " (t.get("id").and_then(Value::as_u64).unwrap_or(0)) " "
                (fmt::mask(s(t, "name").unwrap_or("")))
                @if crashed { " " (badge("bad", &cx.t(Msg::WebCrashedThread))) }
            }
            table class="stack" data-testid=[crashed.then_some("crashed-thread")] {
                thead { tr { th class="num" { "#" } th { (cx.t(Msg::WebFunction)) } th { (cx.t(Msg::WebLocation)) } th { (cx.t(Msg::WebAddress)) } } }
                tbody {
                    @for (i, f) in frames.iter().enumerate() {
                        @let in_app = f.get("in_app").and_then(Value::as_bool).unwrap_or(false);
                        @let inlined = f.get("inlined").and_then(Value::as_bool).unwrap_or(false);
                        @let module = s(f, "image").or_else(|| s(f, "module")).unwrap_or("");
                        @let offset = match (s(f, "addr").and_then(parse_hex), image(module).and_then(|i| s(i, "base")).and_then(parse_hex)) {
                            (Some(a), Some(b)) if a >= b => Some(a - b),
                            _ => f.get("offset").and_then(Value::as_u64),
                        };
                        tr class=(format!("{}{}", if in_app { "inapp" } else { "" }, if inlined { " inlined" } else { "" })) data-in-app=(in_app) {
                            td class="num" { (i) }
                            td class="fn" {
                                @if inlined { span aria-hidden="true" { "↳ " } }
                                @match s(f, "function") {
                                    Some(func) => { (fmt::mask(func)) }
                                    None => { span class="muted" { (cx.t(Msg::WebUnsymbolicated)) } }
                                }
                                @if in_app { span class="tag" { (cx.t(Msg::WebInApp)) } }
                                @if inlined { span class="tag" { (cx.t(Msg::WebInlined)) } }
                            }
                            td {
                                @if let Some(file) = s(f, "file") {
                                    (file)
                                    @if let Some(l) = f.get("line").and_then(Value::as_u64) { ":" (l) }
                                    @if let Some(c) = f.get("col").and_then(Value::as_u64) { ":" (c) }
                                    @if !module.is_empty() { " " span class="muted" { "(" (module) ")" } }
                                } @else {
                                    (module)
                                    @if let Some(o) = offset { " + 0x" (format!("{o:x}")) }
                                }
                            }
                            td { (s(f, "addr").unwrap_or("")) }
                        }
                    }
                }
            }
        }
    };
    for t in &threads {
        for f in t
            .get("frames")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if s(f, "function").is_none() && s(f, "addr").is_some() {
                let name = s(f, "module").or_else(|| s(f, "image")).unwrap_or("?");
                let id = image(name)
                    .and_then(|i| s(i, "debug_id"))
                    .unwrap_or("")
                    .to_string();
                if !missing.iter().any(|m| m.0 == name) {
                    missing.push((name.to_string(), id));
                }
            }
        }
    }
    html! {
        @if threads.is_empty() {
            p { (cx.t(Msg::WebNoStack)) }
        } @else {
            (body)
        }
        h3 { (cx.t(Msg::WebMissingDebugFiles)) }
        @if missing.is_empty() {
            p data-testid="missing-files" { (badge("ok", &cx.t(Msg::WebNoneMissing))) }
        } @else {
            ul data-testid="missing-files" {
                @for (name, id) in &missing {
                    li { (badge("warn", &cx.t(Msg::WebMissing))) " " strong { (name) } " " span class="muted" { (id) } }
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DetailQuery {
    #[serde(default)]
    release: Option<String>,
}

pub async fn detail(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    q: web::Query<DetailQuery>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let (app, fp) = path.into_inner();
    let release = q.into_inner().release.filter(|r| !r.is_empty());
    guarded(&req, &st.clone(), Role::Viewer, |cx| async move {
        let r = release.as_deref().map(ReleaseRef::parse);
        let (d, all) = tokio::try_join!(data::group_detail(&st, &app, &fp, r.as_ref()), data::release_labels(&st, &app))?;
        let Some(sample) = &d.sample else {
            return Err(WebError::NotFound(format!("crash group {fp}")));
        };
        let state = st.analyzer.cp.group_state(&app, &fp)?;
        let rel = release.clone().unwrap_or_else(|| sample.version.clone());
        let a = url_encode(&app);
        let lifecycle = state.as_ref().map(|s| s.status).unwrap_or(GroupStatus::Open);
        let body = html! {
            h1 { (sample.exception_type) " " span class="muted" { (fmt::short(&fp)) } }
            (layout::tabs(&cx, &app, &rel, Tab::Crashes))
            p { a href=(format!("/ui/apps/{a}/crashes?release={}", url_encode(&rel))) { "← " (cx.t(Msg::WebBackToList)) } }
            p class="message" { (fmt::mask(&sample.message)) }
            dl class="kv" {
                dt { (cx.t(Msg::WebFingerprint)) } dd { code { (fp) } }
                dt { (cx.t(Msg::WebEvents)) } dd { (fmt::num(d.events)) }
                dt { (cx.t(Msg::WebUsers)) } dd { (fmt::num(d.users)) }
                dt { (cx.t(Msg::WebDevices)) } dd { (fmt::num(d.devices)) }
                dt { (cx.t(Msg::WebFirstSeen)) } dd { (cx.ts(i64::from(d.first_seen))) }
                dt { (cx.t(Msg::WebLastSeen)) } dd { (cx.ts(i64::from(d.last_seen))) }
                dt { (cx.t(Msg::WebState)) } dd { (state_badge(&cx, lifecycle.as_str()))
                    @if let Some(s) = &state {
                        " " span class="muted" { (s.updated_by) " · " (cx.ts(s.updated_at)) }
                        @if let Some(v) = &s.resolved_in { " · " (cx.r(Msg::WebResolvedIn, &[("release", v)])) }
                        @if let Some(m) = &s.merged_into { " · " (cx.r(Msg::WebMergedInto, &[("group", &fmt::short(m))])) }
                    }
                }
                dt { (cx.t(Msg::WebSample)) } dd { (sample.platform) " · " (sample.device_model) " · " (sample.os_version) " · " (sample.version) "+" (sample.build) " · " (cx.ts(i64::from(sample.ts))) }
            }
            @if cx.can(Role::Operator) {
                (lifecycle_forms(&cx, &app, &fp, &rel, &all))
            }
            h2 { (cx.t(Msg::WebStack)) }
            (stack(&cx, &sample.payload))
            div class="grid2" {
                div {
                    h2 { (cx.t(Msg::WebByModel)) }
                    table { thead { tr { th { (cx.t(Msg::WebModel)) } th class="num" { (cx.t(Msg::WebUsers)) } th class="num" { (cx.t(Msg::WebEvents)) } } }
                        tbody { @for (m, u, e) in &d.models { tr { td { (m) } td class="num" { (fmt::num(*u)) } td class="num" { (fmt::num(*e)) } } } } }
                }
                div {
                    h2 { (cx.t(Msg::WebByOs)) }
                    table { thead { tr { th { (cx.t(Msg::WebPlatform)) } th { (cx.t(Msg::WebOsMajor)) } th class="num" { (cx.t(Msg::WebUsers)) } th class="num" { (cx.t(Msg::WebEvents)) } } }
                        tbody { @for (p, o, u, e) in &d.os { tr { td { (p) } td { (o) } td class="num" { (fmt::num(*u)) } td class="num" { (fmt::num(*e)) } } } } }
                }
                div {
                    h2 { (cx.t(Msg::WebReleases)) }
                    table { thead { tr { th { (cx.t(Msg::WebRelease)) } th class="num" { (cx.t(Msg::WebUsers)) } th class="num" { (cx.t(Msg::WebEvents)) } th { (cx.t(Msg::WebFirstSeen)) } th { (cx.t(Msg::WebLastSeen)) } } }
                        tbody { @for (v, u, e, f0, l0) in &d.releases { tr { td { (v) } td class="num" { (fmt::num(*u)) } td class="num" { (fmt::num(*e)) } td { (cx.ts(i64::from(*f0))) } td { (cx.ts(i64::from(*l0))) } } } } }
                }
            }
        };
        Ok(layout::page(&cx, &sample.exception_type, body))
    })
    .await
}

fn lifecycle_forms(cx: &Ctx, app: &str, fp: &str, rel: &str, all: &[String]) -> Markup {
    let action = format!(
        "/ui/apps/{}/crashes/{}/state",
        url_encode(app),
        url_encode(fp)
    );
    html! {
        h2 { (cx.t(Msg::WebLifecycle)) }
        div class="grid2" {
            form method="post" action=(action) class="action" data-confirm=(cx.t(Msg::WebConfirmPrompt)) {
                (layout::csrf(cx))
                input type="hidden" name="status" value="resolved";
                input type="hidden" name="release" value=(rel);
                p { label for="resolved_in" { (cx.t(Msg::WebResolvedInLabel)) }
                    select id="resolved_in" name="resolved_in" { @for v in all.iter().rev() { option value=(v) { (v) } } } }
                p { button type="submit" { (cx.t(Msg::WebResolve)) } }
            }
            form method="post" action=(action) class="action" data-confirm=(cx.t(Msg::WebConfirmPrompt)) {
                (layout::csrf(cx))
                input type="hidden" name="status" value="merged";
                input type="hidden" name="release" value=(rel);
                p { label for="merged_into" { (cx.t(Msg::WebMergeIntoLabel)) }
                    input id="merged_into" name="merged_into" type="text" required pattern="[A-Za-z0-9:_.-]{4,128}"; }
                p { button type="submit" { (cx.t(Msg::WebMerge)) } }
            }
            form method="post" action=(action) class="action" {
                (layout::csrf(cx))
                input type="hidden" name="release" value=(rel);
                p {
                    button type="submit" name="status" value="ignored" { (cx.t(Msg::WebIgnore)) } " "
                    button type="submit" name="status" value="open" { (cx.t(Msg::WebReopen)) }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct StateForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    resolved_in: Option<String>,
    #[serde(default)]
    merged_into: Option<String>,
    #[serde(default)]
    release: Option<String>,
}

pub async fn set_state(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<StateForm>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let (app, fp) = path.into_inner();
    let f = form.into_inner();
    posted(&req, &st.clone(), Role::Operator, &f.csrf, |cx| async move {
        let status = match f.status.as_str() {
            "resolved" => GroupStatus::Resolved,
            "merged" => GroupStatus::Merged,
            "ignored" => GroupStatus::Ignored,
            "open" => GroupStatus::Open,
            other => return Err(WebError::Invalid(format!("status {other}"))),
        };
        let resolved_in = f.resolved_in.as_deref().filter(|s| !s.is_empty());
        let merged_into = f.merged_into.as_deref().map(str::trim).filter(|s| !s.is_empty());
        if status == GroupStatus::Resolved && resolved_in.is_none() {
            return Err(WebError::Invalid("resolved_in".into()));
        }
        if status == GroupStatus::Merged && merged_into.is_none_or(|m| m == fp) {
            return Err(WebError::Invalid("merged_into".into()));
        }
        st.analyzer.cp.set_group_state(
            &app,
            &fp,
            status,
            resolved_in.filter(|_| status == GroupStatus::Resolved),
            merged_into.filter(|_| status == GroupStatus::Merged),
            cx.user_name(),
        )?;
        tracing::info!(app = %app, fingerprint = %fp, status = status.as_str(), user = %cx.user_name(), "crash group state set");
        let back = format!(
            "/ui/apps/{}/crashes/{}?release={}",
            url_encode(&app),
            url_encode(&fp),
            url_encode(f.release.as_deref().unwrap_or(""))
        );
        Ok(see_other(&back))
    })
    .await
}
