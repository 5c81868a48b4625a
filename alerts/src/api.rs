//! Alert rules and history over HTTP.
//!
//! | route | auth |
//! |---|---|
//! | `GET /api/v1/alerts/rules` | viewer |
//! | `PUT /api/v1/alerts/rules/{id}`, `DELETE …` | operator |
//! | `GET /api/v1/alerts/history?app=&rule_id=&since=&until=&limit=` | viewer |
//! | `GET /api/v1/alerts/history/{id}/deliveries` | viewer |

use crate::Alerts;
use crate::engine::RULE_KIND;
use crate::rule::AlertRule;
use actix_web::{HttpRequest, HttpResponse, web};
use std::sync::Arc;
use vitals_control::error::{ControlError, Localized};
use vitals_i18n::Msg;
use vitals_store::control::Role;
use vitals_store::ops::{AlertFilter, Applied, Change};

type St = web::Data<Arc<Alerts>>;

pub fn configure(state: Arc<Alerts>, cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::Data::new(state))
        .route("/api/v1/alerts/rules", web::get().to(rules))
        .route("/api/v1/alerts/rules/{id}", web::put().to(put_rule))
        .route("/api/v1/alerts/rules/{id}", web::delete().to(delete_rule))
        .route("/api/v1/alerts/history", web::get().to(history))
        .route(
            "/api/v1/alerts/history/{id}/deliveries",
            web::get().to(deliveries),
        );
}

use vitals_control::api::lang;

fn who(
    req: &HttpRequest,
    st: &Alerts,
    needed: Role,
) -> Result<vitals_store::ops::Identity, ControlError> {
    vitals_control::api::identify(req, &st.cp, needed)
}

async fn rules(req: HttpRequest, st: St) -> Result<HttpResponse, Localized> {
    let l = lang(&req, st.lang);
    let me = who(&req, &st, Role::Viewer).map_err(|e| e.lang(l))?;
    // Webhook URLs carry their credential: masked for all but admins.
    let rules = serde_json::to_value(st.rules())
        .map_err(|e| ControlError::Internal(e.to_string()).lang(l))?;
    Ok(HttpResponse::Ok().json(vitals_control::redact::for_role(rules, me.role)))
}

async fn put_rule(
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<AlertRule>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let l = lang(&req, st.lang);
    let run = || -> Result<HttpResponse, ControlError> {
        let me = who(&req, &st, Role::Operator)?;
        let rule = body.into_inner();
        if rule.id != *id {
            return Err(ControlError::invalid("id", "must match the path"));
        }
        let invalid = |e| match e {
            crate::AlertError::Rule { rule, reason } => ControlError::Invalid {
                field: "rule".into(),
                reason: Msg::AlertRuleInvalid.render(l, &[("rule", &rule), ("reason", &reason)]),
            },
            crate::AlertError::Refused { rule, refusal } => ControlError::Invalid {
                field: match refusal {
                    crate::outbound::Refusal::BadEmail { .. } => "email",
                    _ => "webhooks",
                }
                .into(),
                reason: Msg::AlertRuleInvalid
                    .render(l, &[("rule", &rule), ("reason", &refusal.render(l))]),
            },
            other => ControlError::Internal(other.to_string()),
        };
        rule.target().map_err(invalid)?;
        rule.check_outbound(&st.settings.webhooks)
            .map_err(invalid)?;
        // A rule that acts automatically where the policy wants two
        // people would let one operator act alone: only an admin saves it.
        if let Some(a) = &rule.action
            && a.mode == vitals_control::Mode::Automatic
            && st.control.settings.needs_approval(a.action.name())
            && me.role < Role::Admin
        {
            return Err(ControlError::AutomaticNeedsAdmin {
                action: a.action.name().into(),
            });
        }
        st.cp
            .app(&rule.app)?
            .ok_or_else(|| ControlError::NotFound(format!("app {}", rule.app)))?;
        let change = Change {
            app_id: rule.app.clone(),
            kind: RULE_KIND.into(),
            object_id: rule.id.clone(),
            action: "alert_rule.put".into(),
            after: Some(vitals_control::error::to_json(&rule)?),
            reason: String::new(),
            alert: None,
            client_visible: false,
        };
        apply_rule_change(&st, &change, &me.name, me.role)
    };
    run().map_err(|e| e.lang(l))
}

/// Records a rule change (audited like every control-plane change); the
/// answer is the audit entry, URLs masked unless `role` is admin.
fn apply_rule_change(
    st: &Alerts,
    change: &Change,
    actor: &str,
    role: Role,
) -> Result<HttpResponse, ControlError> {
    let entry = st.cp.apply_change(
        change,
        &Applied {
            actor,
            ..Default::default()
        },
    )?;
    Ok(HttpResponse::Ok().json(vitals_control::redact::for_role(
        vitals_control::error::to_json(&entry)?,
        role,
    )))
}

async fn delete_rule(
    req: HttpRequest,
    id: web::Path<String>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let l = lang(&req, st.lang);
    let run = || -> Result<HttpResponse, ControlError> {
        let me = who(&req, &st, Role::Operator)?;
        let o = st
            .cp
            .objects(None, RULE_KIND)?
            .into_iter()
            .find(|o| o.id == *id)
            .ok_or_else(|| ControlError::NotFound(format!("alert rule {id}")))?;
        let change = Change {
            app_id: o.app_id,
            kind: RULE_KIND.into(),
            object_id: o.id,
            action: "alert_rule.delete".into(),
            after: None,
            reason: String::new(),
            alert: None,
            client_visible: false,
        };
        apply_rule_change(&st, &change, &me.name, me.role)
    };
    run().map_err(|e| e.lang(l))
}

async fn history(
    req: HttpRequest,
    q: web::Query<AlertFilter>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let l = lang(&req, st.lang);
    let run = || -> Result<HttpResponse, ControlError> {
        who(&req, &st, Role::Viewer)?;
        let mut f = q.into_inner();
        f.limit = Some(f.limit.unwrap_or(100).min(1000));
        Ok(HttpResponse::Ok().json(st.cp.alert_history(&f)?))
    };
    run().map_err(|e| e.lang(l))
}

async fn deliveries(
    req: HttpRequest,
    id: web::Path<i64>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let l = lang(&req, st.lang);
    let run = || -> Result<HttpResponse, ControlError> {
        who(&req, &st, Role::Viewer)?;
        Ok(HttpResponse::Ok().json(st.cp.deliveries(*id)?))
    };
    run().map_err(|e| e.lang(l))
}
