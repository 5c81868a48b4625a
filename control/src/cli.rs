//! `vitals switch …`: the emergency actions from a shell on the server,
//! with the same identities (API tokens) and rules as the API: requests in
//! approval mode wait for a second, different operator.

use crate::client_config::list;
use crate::error::ControlError;
use crate::model::{SiteHealth, kind};
use crate::{Action, ActionRequest, Control, Mode, Outcome, signing};
use serde_json::Value;
use vitals_i18n::Msg;
use vitals_store::control::Role;
use vitals_store::ops::Identity;

/// The identity behind a token (`--token` or `VITALS_TOKEN`).
pub fn identity(c: &Control, token: &str, needed: Role) -> Result<Identity, ControlError> {
    Ok(c.cp.identify(Some(&format!("Bearer {token}")), needed)?)
}

/// One line of state per app.
pub fn status(c: &Control, app: &str) -> Result<String, ControlError> {
    let (seq, _) = c.cp.config_seq(app)?;
    let count = |k: &str| c.cp.objects(Some(app), k).map(|v| v.len());
    let down = list::<SiteHealth>(&c.cp, app, kind::SITE_HEALTH)?
        .iter()
        .filter(|(_, h)| h.status == "down")
        .count();
    let pending = c.cp.pendings(Some(app), true)?;
    let mut out = Msg::CliSwitchStatus.render(
        c.lang,
        &[
            ("app", &app),
            ("seq", &seq),
            ("emergency", &count(kind::EMERGENCY)?),
            ("sites", &count(kind::SITE)?),
            ("down", &down),
            ("rollouts", &count(kind::ROLLOUT)?),
            ("pending", &pending.len()),
        ],
    );
    for p in pending {
        out.push_str(&format!(
            "\n  {}\t{}\t{}\t{}\t{}",
            p.id, p.change.action, p.change.object_id, p.requested_by, p.change.reason
        ));
    }
    Ok(out)
}

/// Requests an action given as JSON (the API's `action` object).
pub fn activate(
    c: &Control,
    who: &Identity,
    app: &str,
    action_json: &str,
    reason: &str,
    mode: Option<Mode>,
) -> Result<String, ControlError> {
    let action: Action = serde_json::from_str(action_json)
        .map_err(|e| ControlError::invalid("action", &e.to_string()))?;
    let req = ActionRequest {
        app: app.to_string(),
        action,
        reason: reason.to_string(),
        mode,
        alert: None,
    };
    Ok(match c.request(&req, &who.name)? {
        Outcome::Applied { audit } => {
            Msg::CliSwitchApplied.render(c.lang, &[("action", &audit.action), ("audit", &audit.id)])
        }
        Outcome::Pending { pending } => Msg::CliSwitchPending.render(
            c.lang,
            &[("action", &pending.change.action), ("id", &pending.id)],
        ),
    })
}

pub fn approve(c: &Control, who: &Identity, id: &str) -> Result<String, ControlError> {
    let e = c.approve(id, &who.name)?;
    Ok(Msg::CliSwitchApplied.render(c.lang, &[("action", &e.action), ("audit", &e.id)]))
}

pub fn revert(c: &Control, who: &Identity, id: i64, reason: &str) -> Result<String, ControlError> {
    let e = c.revert(id, &who.name, reason)?;
    Ok(Msg::CliSwitchReverted.render(c.lang, &[("id", &id), ("audit", &e.id)]))
}

/// The audit log as JSON lines, newest first.
pub fn audit(c: &Control, app: Option<&str>, limit: u32) -> Result<String, ControlError> {
    let rows: Vec<String> =
        c.cp.audit(app, limit)?
            .iter()
            .map(|e| serde_json::to_string(e).unwrap_or_default())
            .collect();
    Ok(rows.join("\n"))
}

pub fn rotate_key(c: &Control) -> Result<String, ControlError> {
    let id = signing::rotate(&c.cp)?;
    Ok(Msg::CliSwitchKeyRotated.render(c.lang, &[("key_id", &id)]))
}

pub fn retire_key(c: &Control, id: &str) -> Result<String, ControlError> {
    c.cp.retire_signing_key(id)?;
    let keys = signing::Keys::load(&c.cp)?;
    Ok(serde_json::to_string(&Value::from(keys.public_keys())).unwrap_or_default())
}
