//! HTTP routes of the control plane.
//!
//! | route | auth |
//! |---|---|
//! | `GET /api/v1/client-config` | signed like ingest |
//! | `GET /api/v1/client-config/public-key?app=` | none (public keys) |
//! | `GET /api/v1/apps/{app}/control` | viewer |
//! | `PUT/DELETE /api/v1/apps/{app}/{sites,rollouts,channels,min-version}/{id}` | operator (size override: admin) |
//! | `POST /api/v1/actions`, `…/{id}/approve`, `…/{id}/reject` | operator |
//! | `GET /api/v1/actions?app=&open=true`, `GET /api/v1/audit?app=&limit=` | viewer |
//! | `POST /api/v1/audit/{id}/revert` | operator |

use crate::actions::ActionRequest;
use crate::client_config::{self, ClientQuery, list};
use crate::error::{ControlError, Localized, to_json};
use crate::model::{Channel, MinVersionRule, Rollout, Site, kind};
use crate::{Control, signing};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use vitals_i18n::Lang;
use vitals_protocol::sign;
use vitals_store::control::Role;
use vitals_store::ops::{Applied, Change, Identity};

type St = web::Data<Arc<Control>>;

pub fn configure(state: Arc<Control>, cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::Data::new(state))
        .route("/api/v1/client-config", web::get().to(client_config))
        .route(
            "/api/v1/client-config/public-key",
            web::get().to(public_key),
        )
        .route("/api/v1/apps/{app}/control", web::get().to(state_of))
        .route("/api/v1/apps/{app}/{kind}/{id}", web::put().to(put_object))
        .route(
            "/api/v1/apps/{app}/{kind}/{id}",
            web::delete().to(delete_object),
        )
        .route("/api/v1/actions", web::post().to(request_action))
        .route("/api/v1/actions", web::get().to(list_actions))
        .route("/api/v1/actions/{id}/approve", web::post().to(approve))
        .route("/api/v1/actions/{id}/reject", web::post().to(reject))
        .route("/api/v1/audit", web::get().to(audit))
        .route("/api/v1/audit/{id}/revert", web::post().to(revert));
}

/// The response language: `Accept-Language`, else the configured default.
pub fn lang(req: &HttpRequest, default: Lang) -> Lang {
    Lang::negotiate(
        req.headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok()),
        default,
    )
}

fn who(req: &HttpRequest, st: &Control, needed: Role) -> Result<Identity, ControlError> {
    identify(req, &st.cp, needed)
}

/// The named operator behind the request's bearer token, if its role
/// suffices (shared by the alerts API).
pub fn identify(
    req: &HttpRequest,
    cp: &vitals_store::ControlPlane,
    needed: Role,
) -> Result<Identity, ControlError> {
    let h = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    Ok(cp.identify(h, needed)?)
}

fn header<'a>(req: &'a HttpRequest, name: &'static str) -> Result<&'a str, ControlError> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or(ControlError::Signed(
            vitals_collector::ApiError::MissingHeader(name),
        ))
}

async fn client_config(
    req: HttpRequest,
    q: web::Query<ClientQuery>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let lang = lang(&req, st.lang);
    let run = || -> Result<HttpResponse, ControlError> {
        let verifier = st
            .verifier
            .as_ref()
            .ok_or_else(|| ControlError::Internal("no request verifier".into()))?;
        let signed = vitals_collector::auth::SignedHeaders {
            method: req.method().as_str(),
            path: req.path(),
            key_id: header(&req, sign::HEADER_KEY)?,
            timestamp: header(&req, sign::HEADER_TIMESTAMP)?,
            nonce: header(&req, sign::HEADER_NONCE)?,
            signature: header(&req, sign::HEADER_SIGNATURE)?,
        };
        let now = crate::now();
        let app = verifier.verify_signed(&signed, b"", now)?;
        if app.app_id != q.app {
            return Err(vitals_collector::ApiError::AppMismatch {
                key_app: app.app_id,
                batch_app: q.app.clone(),
            }
            .into());
        }
        let keys = signing::Keys::load(&st.cp)?;
        let body = client_config::build(&st.cp, &st.settings, &q, keys.active_id(), now)?;
        let bytes = client_config::to_ascii_json(&body)?;
        let etag = client_config::etag(&bytes);
        let matches = req
            .headers()
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
        if matches {
            return Ok(HttpResponse::NotModified()
                .insert_header(("etag", etag))
                .finish());
        }
        let sig = keys
            .sign(&bytes)
            .ok_or_else(|| ControlError::Internal("no signing key".into()))?;
        Ok(HttpResponse::Ok()
            .insert_header(("etag", etag))
            .insert_header(("x-vitals-signature-ed25519", sig))
            .insert_header(("cache-control", "no-cache"))
            .content_type("application/json")
            .body(bytes))
    };
    run().map_err(|e| e.lang(lang))
}

async fn public_key(req: HttpRequest, st: St) -> Result<HttpResponse, Localized> {
    let keys =
        signing::Keys::load(&st.cp).map_err(|e| ControlError::from(e).lang(lang(&req, st.lang)))?;
    Ok(HttpResponse::Ok().json(json!({
        "public_keys": keys.public_keys(),
        "key_id": keys.active_id(),
        "algorithm": "ed25519",
    })))
}

async fn state_of(
    req: HttpRequest,
    app: web::Path<String>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let lang = lang(&req, st.lang);
    let run = || -> Result<HttpResponse, ControlError> {
        who(&req, &st, Role::Viewer)?;
        let objects = |k: &str| -> Result<Vec<Value>, ControlError> {
            Ok(list::<Value>(&st.cp, &app, k)?
                .into_iter()
                .map(|(id, v)| json!({"id": id, "body": v}))
                .collect())
        };
        let (seq, changed_at) = st.cp.config_seq(&app)?;
        Ok(HttpResponse::Ok().json(json!({
            "app": app.as_str(),
            "seq": seq,
            "changed_at": changed_at,
            "emergency": objects(kind::EMERGENCY)?,
            "sites": objects(kind::SITE)?,
            "site_health": objects(kind::SITE_HEALTH)?,
            "rollouts": objects(kind::ROLLOUT)?,
            "kill_switches": objects(kind::KILL_SWITCH)?,
            "channels": objects(kind::CHANNEL)?,
            "min_version": objects(kind::MIN_VERSION)?,
            "pending": st.cp.pendings(Some(&app), true)?,
        })))
    };
    run().map_err(|e| e.lang(lang))
}

#[derive(Deserialize)]
struct ReasonParam {
    #[serde(default)]
    reason: Option<String>,
}

/// Checks a configured object and returns (kind, JSON body).
fn checked(
    st: &Control,
    who: &Identity,
    path_kind: &str,
    id: &str,
    body: Value,
) -> Result<(&'static str, Value), ControlError> {
    let parse = |e: serde_json::Error| ControlError::invalid("body", &e.to_string());
    match path_kind {
        "sites" => {
            let s: Site = serde_json::from_value(body).map_err(parse)?;
            if s.id != id {
                return Err(ControlError::invalid("id", "must match the path"));
            }
            s.check()?;
            Ok((kind::SITE, to_json(&s)?))
        }
        "rollouts" => {
            let mut r: Rollout = serde_json::from_value(body).map_err(parse)?;
            if r.id != id {
                return Err(ControlError::invalid("id", "must match the path"));
            }
            if let Some(o) = &mut r.size_override {
                if who.role < Role::Admin {
                    return Err(ControlError::OverrideNeedsAdmin);
                }
                o.by = who.name.clone();
            }
            r.check(st.settings.max_package_bytes)?;
            Ok((kind::ROLLOUT, to_json(&r)?))
        }
        "channels" => {
            let c: Channel = serde_json::from_value(body).map_err(parse)?;
            Ok((kind::CHANNEL, to_json(&c)?))
        }
        "min-version" => {
            let m: MinVersionRule = serde_json::from_value(body).map_err(parse)?;
            m.check(st.settings.min_version_notice_days)?;
            Ok((kind::MIN_VERSION, to_json(&m)?))
        }
        other => Err(ControlError::NotFound(format!("collection {other}"))),
    }
}

async fn put_object(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    r: web::Query<ReasonParam>,
    body: web::Json<Value>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let lang = lang(&req, st.lang);
    let run = || -> Result<HttpResponse, ControlError> {
        let me = who(&req, &st, Role::Operator)?;
        let (app, k, id) = path.into_inner();
        st.cp
            .app(&app)?
            .ok_or_else(|| ControlError::NotFound(format!("app {app}")))?;
        let (kind, value) = checked(&st, &me, &k, &id, body.into_inner())?;
        let change = Change {
            app_id: app,
            kind: kind.into(),
            object_id: id,
            action: format!("{kind}.put"),
            after: Some(value),
            reason: r.reason.clone().unwrap_or_default(),
            alert: None,
            client_visible: true,
        };
        let e = st.cp.apply_change(
            &change,
            &Applied {
                actor: &me.name,
                ..Default::default()
            },
        )?;
        Ok(HttpResponse::Ok().json(e))
    };
    run().map_err(|e| e.lang(lang))
}

async fn delete_object(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    r: web::Query<ReasonParam>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let lang = lang(&req, st.lang);
    let run = || -> Result<HttpResponse, ControlError> {
        let me = who(&req, &st, Role::Operator)?;
        let (app, k, id) = path.into_inner();
        let kind = match k.as_str() {
            "sites" => kind::SITE,
            "rollouts" => kind::ROLLOUT,
            "channels" => kind::CHANNEL,
            "min-version" => kind::MIN_VERSION,
            other => return Err(ControlError::NotFound(format!("collection {other}"))),
        };
        st.cp
            .object(&app, kind, &id)?
            .ok_or_else(|| ControlError::NotFound(format!("{kind} {id}")))?;
        let change = Change {
            app_id: app,
            kind: kind.into(),
            object_id: id,
            action: format!("{kind}.delete"),
            after: None,
            reason: r.reason.clone().unwrap_or_default(),
            alert: None,
            client_visible: true,
        };
        let e = st.cp.apply_change(
            &change,
            &Applied {
                actor: &me.name,
                ..Default::default()
            },
        )?;
        Ok(HttpResponse::Ok().json(e))
    };
    run().map_err(|e| e.lang(lang))
}

async fn request_action(
    req: HttpRequest,
    body: web::Json<ActionRequest>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let lang = lang(&req, st.lang);
    let run = || -> Result<HttpResponse, ControlError> {
        let me = who(&req, &st, Role::Operator)?;
        let out = st.request(&body, &me.name)?;
        Ok(HttpResponse::Ok().json(out))
    };
    run().map_err(|e| e.lang(lang))
}

#[derive(Deserialize)]
struct ListParam {
    #[serde(default)]
    app: Option<String>,
    #[serde(default)]
    open: Option<bool>,
    #[serde(default)]
    limit: Option<u32>,
}

async fn list_actions(
    req: HttpRequest,
    q: web::Query<ListParam>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let lang = lang(&req, st.lang);
    let run = || -> Result<HttpResponse, ControlError> {
        who(&req, &st, Role::Viewer)?;
        Ok(HttpResponse::Ok().json(st.cp.pendings(q.app.as_deref(), q.open.unwrap_or(false))?))
    };
    run().map_err(|e| e.lang(lang))
}

async fn approve(
    req: HttpRequest,
    id: web::Path<String>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let lang = lang(&req, st.lang);
    let run = || -> Result<HttpResponse, ControlError> {
        let me = who(&req, &st, Role::Operator)?;
        Ok(HttpResponse::Ok().json(st.approve(&id, &me.name)?))
    };
    run().map_err(|e| e.lang(lang))
}

async fn reject(
    req: HttpRequest,
    id: web::Path<String>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let lang = lang(&req, st.lang);
    let run = || -> Result<HttpResponse, ControlError> {
        let me = who(&req, &st, Role::Operator)?;
        st.reject(&id, &me.name)?;
        Ok(HttpResponse::Ok().json(json!({"id": id.as_str(), "status": "rejected"})))
    };
    run().map_err(|e| e.lang(lang))
}

async fn audit(
    req: HttpRequest,
    q: web::Query<ListParam>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let lang = lang(&req, st.lang);
    let run = || -> Result<HttpResponse, ControlError> {
        let me = who(&req, &st, Role::Viewer)?;
        let entries = st
            .cp
            .audit(q.app.as_deref(), q.limit.unwrap_or(100).min(1000))?;
        // Before / after of alert-rule changes hold webhook URLs with
        // their keys: masked for all but admins.
        Ok(HttpResponse::Ok().json(crate::redact::for_role(
            crate::error::to_json(&entries)?,
            me.role,
        )))
    };
    run().map_err(|e| e.lang(lang))
}

#[derive(Deserialize)]
struct RevertBody {
    reason: String,
}

async fn revert(
    req: HttpRequest,
    id: web::Path<i64>,
    body: web::Json<RevertBody>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let lang = lang(&req, st.lang);
    let run = || -> Result<HttpResponse, ControlError> {
        let me = who(&req, &st, Role::Operator)?;
        Ok(HttpResponse::Ok().json(st.revert(*id, &me.name, &body.reason)?))
    };
    run().map_err(|e| e.lang(lang))
}
