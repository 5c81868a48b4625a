//! Emergency (5.5, 6.2b, 6.4.1e): current directives, kill switches, sites
//! and their health, rollouts, pending approvals, the client config as
//! devices receive it, and the audit log. Every action needs a reason and
//! an explicit confirmation; in approval mode it waits for a second
//! operator (the control plane refuses the requester as approver).

use crate::ctx::{Ctx, guarded, posted, see_other, url_encode};
use crate::error::{Localized, WebError};
use crate::layout::{self, Tab, badge, csrf};
use crate::{St, fmt};
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use vitals_control::model::{Emergency, Text, VersionRange, kind};
use vitals_control::{Action, ActionRequest, Mode, Outcome};
use vitals_i18n::Msg;
use vitals_store::control::Role;

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// An action form: hidden fields, reason, mode, confirmation.
pub fn action_form(
    cx: &Ctx,
    app: &str,
    back: &str,
    label: &str,
    hidden: &[(&str, &str)],
    extra: Markup,
    danger: bool,
) -> Markup {
    let id = format!("f{:x}", {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (label, hidden).hash(&mut h);
        h.finish()
    });
    html! {
        form method="post" action=(format!("/ui/apps/{}/actions", url_encode(app))) class="action" {
            (csrf(cx))
            input type="hidden" name="back" value=(back);
            @for (k, v) in hidden { input type="hidden" name=(k) value=(v); }
            (extra)
            p {
                label for=(format!("{id}-reason")) { (cx.t(Msg::WebReason)) }
                input id=(format!("{id}-reason") ) name="reason" type="text" required minlength="3" size="40";
            }
            p {
                label for=(format!("{id}-mode")) { (cx.t(Msg::WebMode)) }
                select id=(format!("{id}-mode")) name="mode" {
                    option value="approval" selected { (cx.t(Msg::WebModeApproval)) }
                    option value="automatic" { (cx.t(Msg::WebModeAutomatic)) }
                }
            }
            p {
                input id=(format!("{id}-confirm")) name="confirm" type="checkbox" value="yes" required;
                label for=(format!("{id}-confirm")) { (cx.t(Msg::WebConfirmCheck)) }
            }
            p { button type="submit" class=(if danger { "danger" } else { "primary" }) { (label) } }
        }
    }
}

/// A JSON value in brief, numbers masked; URLs with their secrets masked
/// (webhook keys in alert-rule changes) unless the user is an admin.
fn json_brief(cx: &Ctx, v: &Option<Value>) -> String {
    match v {
        None => "∅".into(),
        Some(v) => {
            let mut v = fmt::mask_json(v);
            if !cx.can(Role::Admin) {
                vitals_control::redact::redact_json(&mut v);
            }
            fmt::trunc(&v.to_string(), 160)
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    release: Option<String>,
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    platform: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

pub async fn page(
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let app = path.into_inner();
    let q = q.into_inner();
    guarded(&req, &st.clone(), Role::Viewer, |cx| async move {
        let cp = &st.analyzer.cp;
        let release = match q.release.clone().filter(|r| !r.is_empty()) {
            Some(r) => r,
            None => st.analyzer.latest_release(&app).await?.map(|r| r.version).unwrap_or_default(),
        };
        let directives = cp.objects(Some(&app), kind::EMERGENCY)?;
        let switches = cp.objects(Some(&app), kind::KILL_SWITCH)?;
        let sites = cp.objects(Some(&app), kind::SITE)?;
        let health = cp.objects(Some(&app), kind::SITE_HEALTH)?;
        let rollouts = cp.objects(Some(&app), kind::ROLLOUT)?;
        let pending = cp.pendings(Some(&app), true)?;
        let audit = cp.audit(Some(&app), 50)?;
        let act = cx.can(Role::Operator) && st.control.is_some();
        let back = cx.here.clone();
        let (cc_platform, cc_version) = (q.platform.clone().unwrap_or_else(|| "ios".into()), q.version.clone().unwrap_or_else(|| release.clone()));
        let config = st.control.as_ref().map(|c| {
            let query = vitals_control::client_config::ClientQuery { app: app.clone(), platform: cc_platform.clone(), version: cc_version.clone(), ..Default::default() };
            let key = vitals_control::signing::Keys::load(cp).map(|k| k.active_id().to_string()).unwrap_or_default();
            vitals_control::client_config::build(cp, &c.settings, &query, &key, vitals_control::now())
                .and_then(|b| vitals_control::error::to_json(&b))
                .map(|v| serde_json::to_string_pretty(&fmt::mask_json(&v)).unwrap_or_default())
                .unwrap_or_else(|e| e.to_string())
        });
        let notice = q.done.as_deref().map(|d| match d {
            "pending" => cx.t(Msg::WebDonePending),
            "approved" => cx.t(Msg::WebDoneApproved),
            "rejected" => cx.t(Msg::WebDoneRejected),
            _ => cx.t(Msg::WebDoneApplied),
        });
        let body = html! {
            h1 { (cx.t(Msg::WebEmergencyTitle)) " · " (app) }
            (layout::tabs(&cx, &app, &release, Tab::Emergency))
            @if let Some(n) = notice { p class="notice" role="status" data-testid="notice" { (n) } }
            @if st.control.is_none() { p class="error" { (cx.t(Msg::WebNoControl)) } }
            @else if !cx.can(Role::Operator) { p class="muted" { (cx.t(Msg::WebReadOnly)) } }

            h2 id="pending" { (cx.t(Msg::WebPendingApprovals)) }
            @if pending.is_empty() { p { (cx.t(Msg::WebNoPending)) } } @else {
                table data-testid="pending" {
                    thead { tr { th { "ID" } th { (cx.t(Msg::WebAction)) } th { (cx.t(Msg::WebObject)) } th { (cx.t(Msg::WebRequestedBy)) } th { (cx.t(Msg::WebWhen)) } th { (cx.t(Msg::WebReason)) } th { (cx.t(Msg::WebAfter)) } th { (cx.t(Msg::WebDecision)) } } }
                    tbody {
                        @for p in &pending {
                            tr data-pending=(p.id) {
                                td { code { (p.id) } } td { (p.change.action) } td { (p.change.kind) " " (p.change.object_id) }
                                td { (p.requested_by) } td { (cx.ts(p.requested_at)) } td { (fmt::mask(&p.change.reason)) }
                                td { code { (json_brief(&cx, &p.change.after)) } }
                                td {
                                    @if act {
                                        @if p.requested_by == cx.user_name() {
                                            span class="muted" { (cx.t(Msg::WebNeedsOtherOperator)) }
                                        } @else {
                                            form method="post" action=(format!("/ui/actions/{}/approve", url_encode(&p.id))) class="inline" {
                                                (csrf(&cx)) input type="hidden" name="back" value=(back);
                                                input id=(format!("c-{}", p.id)) type="checkbox" name="confirm" value="yes" required;
                                                label for=(format!("c-{}", p.id)) { (cx.t(Msg::WebConfirmShort)) }
                                                button type="submit" class="primary" { (cx.t(Msg::WebApprove)) }
                                            }
                                        }
                                        " "
                                        form method="post" action=(format!("/ui/actions/{}/reject", url_encode(&p.id))) class="inline" {
                                            (csrf(&cx)) input type="hidden" name="back" value=(back);
                                            input type="hidden" name="confirm" value="yes";
                                            button type="submit" { (cx.t(Msg::WebReject)) }
                                        }
                                    } @else { "—" }
                                }
                            }
                        }
                    }
                }
            }

            h2 { (cx.t(Msg::WebActiveDirectives)) }
            @if directives.is_empty() { p { (badge("ok", &cx.t(Msg::WebNoDirectives))) } } @else {
                table {
                    thead { tr { th { "ID" } th { (cx.t(Msg::WebAction)) } th { (cx.t(Msg::WebPlatform)) } th { (cx.t(Msg::WebTargetVersion)) } th { (cx.t(Msg::WebBy)) } th { (cx.t(Msg::WebWhen)) } th {} } }
                    tbody { @for d in &directives { tr {
                        td { (d.id) } td { (badge("bad", s(&d.body, "action"))) } td { (s(&d.body, "platform")) } td { (s(&d.body, "target_version")) }
                        td { (d.updated_by) } td { (cx.ts(d.updated_at)) }
                        td { @if act { (action_form(&cx, &app, &back, &cx.t(Msg::WebClearDirective), &[("type", "clear_emergency"), ("id", &d.id)], html! {}, false)) } }
                    } } }
                }
            }

            h2 id="kill-switches" { (cx.t(Msg::WebKillSwitches)) }
            @if switches.is_empty() { p { (cx.t(Msg::WebNone)) } } @else {
                table data-testid="kill-switches" {
                    thead { tr { th { (cx.t(Msg::WebFeature)) } th { (cx.t(Msg::WebState)) } th { (cx.t(Msg::WebBy)) } th { (cx.t(Msg::WebWhen)) } } }
                    tbody { @for k in &switches { tr {
                        td { (k.id) }
                        td { @if k.body.get("enabled").and_then(Value::as_bool).unwrap_or(true) { (badge("ok", &cx.t(Msg::WebEnabled))) } @else { (badge("bad", &cx.t(Msg::WebDisabled))) } }
                        td { (k.updated_by) } td { (cx.ts(k.updated_at)) }
                    } } }
                }
            }
            @if act {
                (action_form(&cx, &app, &back, &cx.t(Msg::WebSetKillSwitch), &[("type", "set_kill_switch")], html! {
                    p { label for="ks-feature" { (cx.t(Msg::WebFeature)) } input id="ks-feature" name="feature" type="text" required pattern="[A-Za-z0-9._-]{1,64}"; }
                    p { label for="ks-enabled" { (cx.t(Msg::WebState)) }
                        select id="ks-enabled" name="enabled" { option value="false" { (cx.t(Msg::WebDisabled)) } option value="true" { (cx.t(Msg::WebEnabled)) } } }
                }, true))
                details {
                    summary { (cx.t(Msg::WebActivateEmergency)) }
                    (action_form(&cx, &app, &back, &cx.t(Msg::WebActivateEmergency), &[("type", "activate_emergency")], html! {
                        p { label for="em-id" { "ID" } input id="em-id" name="id" type="text" required pattern="[A-Za-z0-9._-]{1,64}"; }
                        p { label for="em-action" { (cx.t(Msg::WebAction)) }
                            select id="em-action" name="emergency_action" { option value="notice" { "notice" } option value="degrade" { "degrade" } option value="block" { "block" } } }
                        p { label for="em-platform" { (cx.t(Msg::WebPlatform)) } input id="em-platform" name="platform" type="text" value="*"; }
                        p { label for="em-below" { (cx.t(Msg::WebVersionsBelow)) } input id="em-below" name="below" type="text"; }
                        p { label for="em-target" { (cx.t(Msg::WebTargetVersion)) } input id="em-target" name="target_version" type="text" required; }
                        p { label for="em-url" { "URL" } input id="em-url" name="url" type="url" required; }
                        p { label for="em-message" { (cx.t(Msg::WebUserMessage)) } input id="em-message" name="message" type="text" required size="40"; }
                    }, true))
                }
            }

            h2 { (cx.t(Msg::WebSites)) }
            @if sites.is_empty() { p { (cx.t(Msg::WebNone)) } } @else {
                table {
                    thead { tr { th { "ID" } th { (cx.t(Msg::WebCategory)) } th { (cx.t(Msg::WebAddresses)) } th { (cx.t(Msg::WebHealth)) } th { (cx.t(Msg::WebClientErrors)) } th {} } }
                    tbody { @for site in &sites {
                        @let h = health.iter().find(|h| h.id == site.id).map(|h| &h.body);
                        @let drained = site.body.get("drained").and_then(Value::as_bool).unwrap_or(false);
                        tr {
                            td { (site.id) } td { (s(&site.body, "category")) }
                            td { @for a in site.body.get("addresses").and_then(Value::as_array).into_iter().flatten() { div { (s(a, "family")) " " (s(a, "url")) } } }
                            td {
                                @match h.map(|h| s(h, "status")) { Some("down") => { (badge("bad", &cx.t(Msg::WebSiteDown))) } Some("up") => { (badge("ok", &cx.t(Msg::WebSiteUp))) } _ => { (badge("unknown", &cx.t(Msg::WebSiteUnknown))) } }
                                @if drained { " " (badge("warn", &cx.t(Msg::WebDrained))) }
                            }
                            td { (fmt::pct(h.and_then(|h| h.get("client_error_rate")).and_then(Value::as_f64))) }
                            td { @if act {
                                @if drained { (action_form(&cx, &app, &back, &cx.t(Msg::WebRestoreSite), &[("type", "restore_site"), ("id", &site.id)], html! {}, false)) }
                                @else { (action_form(&cx, &app, &back, &cx.t(Msg::WebDrainSite), &[("type", "drain_site"), ("id", &site.id)], html! {}, true)) }
                            } }
                        }
                    } }
                }
            }

            h2 { (cx.t(Msg::WebRollouts)) }
            (crate::pages::updates::rollouts_table(&cx, &app, &back, &rollouts, act))

            h2 id="client-config" { (cx.t(Msg::WebClientConfig)) }
            form method="get" action=(format!("/ui/apps/{}/emergency", url_encode(&app))) class="filters" {
                input type="hidden" name="release" value=(release);
                div { label for="cc-platform" { (cx.t(Msg::WebPlatform)) } input id="cc-platform" name="platform" type="text" value=(cc_platform); }
                div { label for="cc-version" { (cx.t(Msg::WebVersion)) } input id="cc-version" name="version" type="text" value=(cc_version); }
                button type="submit" { (cx.t(Msg::WebApply)) }
            }
            @match config { Some(c) => { pre class="json" data-testid="client-config" tabindex="0" { (c) } } None => { p { (cx.t(Msg::WebNoControl)) } } }

            h2 id="audit" { (cx.t(Msg::WebAuditLog)) }
            @if audit.is_empty() { p { (cx.t(Msg::WebNone)) } } @else {
                table data-testid="audit" {
                    thead { tr { th { "#" } th { (cx.t(Msg::WebWhen)) } th { (cx.t(Msg::WebActor)) } th { (cx.t(Msg::WebApprovedBy)) } th { (cx.t(Msg::WebAction)) } th { (cx.t(Msg::WebObject)) } th { (cx.t(Msg::WebReason)) } th { (cx.t(Msg::WebBefore)) } th { (cx.t(Msg::WebAfter)) } } }
                    tbody { @for e in &audit { tr {
                        td { (e.id) } td { (cx.ts(e.at)) } td { (e.actor) } td { (e.approved_by.clone().unwrap_or_else(|| "—".into())) }
                        td { (e.action) } td { (e.kind) " " (e.object_id) } td { (fmt::mask(&e.reason)) }
                        td { code { (json_brief(&cx, &e.before)) } } td { code { (json_brief(&cx, &e.after)) } }
                    } } }
                }
            }
        };
        Ok(layout::page(&cx, &cx.t(Msg::WebEmergencyTitle), body))
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    feature: String,
    #[serde(default)]
    enabled: String,
    #[serde(default)]
    emergency_action: String,
    #[serde(default)]
    platform: String,
    #[serde(default)]
    below: String,
    #[serde(default)]
    target_version: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    back: Option<String>,
}

fn action_of(f: &ActionForm) -> Result<Action, WebError> {
    let id = f.id.trim().to_string();
    let need_id = || {
        if id.is_empty() {
            Err(WebError::Invalid("id".into()))
        } else {
            Ok(id.clone())
        }
    };
    Ok(match f.kind.as_str() {
        "set_kill_switch" => {
            if f.feature.trim().is_empty() {
                return Err(WebError::Invalid("feature".into()));
            }
            Action::SetKillSwitch {
                feature: f.feature.trim().to_string(),
                enabled: f.enabled == "true",
            }
        }
        "activate_emergency" => Action::ActivateEmergency {
            id: need_id()?,
            emergency: Emergency {
                platform: if f.platform.trim().is_empty() {
                    "*".into()
                } else {
                    f.platform.trim().to_string()
                },
                versions: VersionRange {
                    min: None,
                    below: Some(f.below.trim().to_string()).filter(|s| !s.is_empty()),
                },
                action: f.emergency_action.clone(),
                target_version: f.target_version.trim().to_string(),
                url: f.url.trim().to_string(),
                reason: Text::Plain(f.message.trim().to_string()),
                mandatory: f.emergency_action == "block",
                features: Vec::new(),
            }
            .into(),
        },
        "clear_emergency" => Action::ClearEmergency { id: need_id()? },
        "pause_rollout" => Action::PauseRollout { id: need_id()? },
        "resume_rollout" => Action::ResumeRollout { id: need_id()? },
        "rollback_rollout" => Action::RollbackRollout { id: need_id()? },
        "delete_rollout" => Action::DeleteRollout { id: need_id()? },
        "drain_site" => Action::DrainSite { id: need_id()? },
        "restore_site" => Action::RestoreSite { id: need_id()? },
        other => return Err(WebError::Invalid(format!("type {other}"))),
    })
}

fn back_with(back: Option<&str>, done: &str) -> String {
    let b = crate::ctx::safe_back(back);
    let sep = if b.contains('?') { '&' } else { '?' };
    // Drop an earlier outcome so notices do not pile up.
    let b = b
        .split("&done=")
        .next()
        .unwrap_or(&b)
        .split("?done=")
        .next()
        .unwrap_or(&b)
        .to_string();
    let sep = if b.contains('?') { '&' } else { sep };
    format!("{b}{sep}done={done}")
}

/// `POST /ui/apps/{app}/actions`
pub async fn request(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<ActionForm>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let app = path.into_inner();
    let f = form.into_inner();
    posted(
        &req,
        &st.clone(),
        Role::Operator,
        &f.csrf.clone(),
        |cx| async move {
            let control = st.control.clone().ok_or(WebError::NoControl)?;
            if f.confirm != "yes" {
                return Err(WebError::Invalid(cx.t(Msg::WebConfirmMissing)));
            }
            let r = ActionRequest {
                app: app.clone(),
                action: action_of(&f)?,
                reason: f.reason.trim().to_string(),
                mode: Some(if f.mode == "automatic" {
                    Mode::Automatic
                } else {
                    Mode::Approval
                }),
                alert: None,
            };
            let user = cx.user_name().to_string();
            let out = web::block(move || control.request(&r, &user))
                .await
                .map_err(|e| WebError::Internal(e.to_string()))??;
            let done = match out {
                Outcome::Applied { .. } => "applied",
                Outcome::Pending { .. } => "pending",
            };
            Ok(see_other(&back_with(f.back.as_deref(), done)))
        },
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
pub struct DecideForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    back: Option<String>,
}

/// `POST /ui/actions/{id}/approve`: by a second operator only.
pub async fn approve(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<DecideForm>,
    st: St,
) -> Result<HttpResponse, Localized> {
    decide(req, path.into_inner(), form.into_inner(), st, true).await
}

/// `POST /ui/actions/{id}/reject`
pub async fn reject(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<DecideForm>,
    st: St,
) -> Result<HttpResponse, Localized> {
    decide(req, path.into_inner(), form.into_inner(), st, false).await
}

async fn decide(
    req: HttpRequest,
    id: String,
    f: DecideForm,
    st: St,
    approve: bool,
) -> Result<HttpResponse, Localized> {
    posted(
        &req,
        &st.clone(),
        Role::Operator,
        &f.csrf.clone(),
        |cx| async move {
            let control = st.control.clone().ok_or(WebError::NoControl)?;
            if f.confirm != "yes" {
                return Err(WebError::Invalid(cx.t(Msg::WebConfirmMissing)));
            }
            let user = cx.user_name().to_string();
            let done = if approve {
                web::block(move || control.approve(&id, &user).map(|_| ()))
                    .await
                    .map_err(|e| WebError::Internal(e.to_string()))??;
                "approved"
            } else {
                web::block(move || control.reject(&id, &user))
                    .await
                    .map_err(|e| WebError::Internal(e.to_string()))??;
                "rejected"
            };
            Ok(see_other(&back_with(f.back.as_deref(), done)))
        },
    )
    .await
}
