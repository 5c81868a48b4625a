//! Emergency actions (5.5): activate an emergency version, pause / roll
//! back / delete a rollout, drain or restore a site, set a kill switch.
//!
//! Each runs in one of two modes: `automatic` (applied at once) or
//! `approval` (recorded as pending; applied when a *different* operator
//! approves). Which actions need approval is policy (`[control]
//! require_approval`, every action by default): a person's request for such
//! an action waits for a second person whatever mode it asks for (issue
//! #22). Alert rules act in the mode they were saved with; saving a rule
//! that acts automatically where the policy wants approval takes an admin
//! (`vitals-alerts`). Every applied change is one audit entry with the
//! state before and after, and can be reverted in one step (the revert is
//! audited too).

use crate::Control;
use crate::error::{ControlError, to_json};
use crate::model::{Emergency, KillSwitch, Rollout, Site, kind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use vitals_store::ops::{Applied, AuditEntry, Change, Pending};

/// What to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    ActivateEmergency {
        id: String,
        emergency: Box<Emergency>,
    },
    ClearEmergency {
        id: String,
    },
    PauseRollout {
        id: String,
    },
    ResumeRollout {
        id: String,
    },
    RollbackRollout {
        id: String,
    },
    DeleteRollout {
        id: String,
    },
    DrainSite {
        id: String,
    },
    RestoreSite {
        id: String,
    },
    SetKillSwitch {
        feature: String,
        enabled: bool,
    },
}

impl Action {
    /// The action's name in the audit log and the approval policy.
    pub fn name(&self) -> &'static str {
        match self {
            Action::ActivateEmergency { .. } => "emergency.activate",
            Action::ClearEmergency { .. } => "emergency.clear",
            Action::PauseRollout { .. } => "rollout.pause",
            Action::ResumeRollout { .. } => "rollout.resume",
            Action::RollbackRollout { .. } => "rollout.rollback",
            Action::DeleteRollout { .. } => "rollout.delete",
            Action::DrainSite { .. } => "site.drain",
            Action::RestoreSite { .. } => "site.restore",
            Action::SetKillSwitch { .. } => "kill_switch.set",
        }
    }
}

/// How an action is carried out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Automatic,
    #[default]
    Approval,
}

/// A request to act.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    pub app: String,
    pub action: Action,
    pub reason: String,
    #[serde(default)]
    pub mode: Option<Mode>,
    /// The alert that triggered it (`rule_id#history_id`).
    #[serde(default)]
    pub alert: Option<String>,
}

/// What happened to a request.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Applied { audit: AuditEntry },
    Pending { pending: Pending },
}

impl Control {
    fn current<T: serde::de::DeserializeOwned>(
        &self,
        app: &str,
        k: &str,
        id: &str,
    ) -> Result<T, ControlError> {
        let o = self
            .cp
            .object(app, k, id)?
            .ok_or_else(|| ControlError::NotFound(format!("{k} {id}")))?;
        serde_json::from_value(o.body).map_err(|e| ControlError::Internal(e.to_string()))
    }

    /// The change an action makes, computed against the current state (so
    /// an approver sees exactly what will be applied).
    pub fn change_for(&self, r: &ActionRequest) -> Result<Change, ControlError> {
        let rollout = |id: &str, f: &dyn Fn(&mut Rollout)| -> Result<Value, ControlError> {
            let mut ro: Rollout = self.current(&r.app, kind::ROLLOUT, id)?;
            f(&mut ro);
            to_json(&ro)
        };
        let site = |id: &str, drained: bool| -> Result<Value, ControlError> {
            let mut s: Site = self.current(&r.app, kind::SITE, id)?;
            s.drained = drained;
            to_json(&s)
        };
        let (k, id, after) = match &r.action {
            Action::ActivateEmergency { id, emergency } => {
                emergency.check()?;
                (kind::EMERGENCY, id.clone(), Some(to_json(emergency)?))
            }
            Action::ClearEmergency { id } => {
                self.current::<Emergency>(&r.app, kind::EMERGENCY, id)?;
                (kind::EMERGENCY, id.clone(), None)
            }
            Action::PauseRollout { id } => (
                kind::ROLLOUT,
                id.clone(),
                Some(rollout(id, &|r| r.state = "paused".into())?),
            ),
            Action::ResumeRollout { id } => (
                kind::ROLLOUT,
                id.clone(),
                Some(rollout(id, &|r| r.state = "active".into())?),
            ),
            Action::RollbackRollout { id } => (
                kind::ROLLOUT,
                id.clone(),
                Some(rollout(id, &|r| r.state = "rolled_back".into())?),
            ),
            Action::DeleteRollout { id } => {
                self.current::<Rollout>(&r.app, kind::ROLLOUT, id)?;
                (kind::ROLLOUT, id.clone(), None)
            }
            Action::DrainSite { id } => (kind::SITE, id.clone(), Some(site(id, true)?)),
            Action::RestoreSite { id } => (kind::SITE, id.clone(), Some(site(id, false)?)),
            Action::SetKillSwitch { feature, enabled } => (
                kind::KILL_SWITCH,
                feature.clone(),
                Some(to_json(&KillSwitch { enabled: *enabled })?),
            ),
        };
        let action = r.action.name();
        if r.reason.trim().is_empty() {
            return Err(ControlError::invalid(
                "reason",
                "every action needs a reason",
            ));
        }
        Ok(Change {
            app_id: r.app.clone(),
            kind: k.to_string(),
            object_id: id,
            action: action.to_string(),
            after,
            reason: r.reason.clone(),
            alert: r.alert.clone(),
            client_visible: true,
        })
    }

    /// Requests an action as the person `actor` (API, dashboard, CLI):
    /// applied at once in automatic mode, else recorded for approval. When
    /// the policy puts the action under approval, it is recorded for
    /// approval whatever mode the request asks for.
    pub fn request(&self, r: &ActionRequest, actor: &str) -> Result<Outcome, ControlError> {
        let asked = r.mode.unwrap_or(self.settings.default_mode);
        let mode = if self.settings.needs_approval(r.action.name()) {
            if asked == Mode::Automatic {
                tracing::warn!(app = %r.app, action = r.action.name(), actor,
                    "automatic mode asked for an action the policy puts under approval: recorded for a second person");
            }
            Mode::Approval
        } else {
            asked
        };
        self.carry_out(r, actor, mode)
    }

    /// Requests an action on behalf of an alert rule (`actor` =
    /// `alert:<rule>`), in the rule's own mode: whoever saved a rule that
    /// acts automatically against the policy was an admin.
    pub fn request_by_rule(&self, r: &ActionRequest, actor: &str) -> Result<Outcome, ControlError> {
        self.carry_out(r, actor, r.mode.unwrap_or(self.settings.default_mode))
    }

    fn carry_out(
        &self,
        r: &ActionRequest,
        actor: &str,
        mode: Mode,
    ) -> Result<Outcome, ControlError> {
        let change = self.change_for(r)?;
        let out = match mode {
            Mode::Automatic => Outcome::Applied {
                audit: self.cp.apply_change(
                    &change,
                    &Applied {
                        actor,
                        ..Default::default()
                    },
                )?,
            },
            Mode::Approval => Outcome::Pending {
                pending: self.cp.create_pending(&change, actor)?,
            },
        };
        self.metrics.count(&change.action, mode);
        tracing::info!(app = %r.app, action = %change.action, object = %change.object_id, actor, ?mode, "action requested");
        Ok(out)
    }

    /// Approves a pending action; the approver must not be the requester.
    pub fn approve(&self, pending_id: &str, approver: &str) -> Result<AuditEntry, ControlError> {
        let p = self
            .cp
            .pending(pending_id)?
            .ok_or_else(|| ControlError::NotFound(format!("action {pending_id}")))?;
        if p.status != "pending" {
            return Err(ControlError::NotPending(pending_id.to_string()));
        }
        if p.requested_by == approver {
            return Err(ControlError::SameApprover);
        }
        if !self.cp.decide_pending(pending_id, "approved", approver)? {
            return Err(ControlError::NotPending(pending_id.to_string()));
        }
        let e = self.cp.apply_change(
            &p.change,
            &Applied {
                actor: &p.requested_by,
                approved_by: Some(approver),
                pending_id: Some(pending_id),
                reverts: None,
            },
        )?;
        tracing::info!(app = %p.app_id, action = %p.change.action, requested_by = %p.requested_by, approver, "action approved and applied");
        Ok(e)
    }

    /// Rejects a pending action.
    pub fn reject(&self, pending_id: &str, by: &str) -> Result<(), ControlError> {
        if !self.cp.decide_pending(pending_id, "rejected", by)? {
            return Err(ControlError::NotPending(pending_id.to_string()));
        }
        Ok(())
    }

    /// Restores the state before audit entry `id`, in one step. Refused if
    /// the object changed since (revert the later change first).
    pub fn revert(&self, id: i64, actor: &str, reason: &str) -> Result<AuditEntry, ControlError> {
        let e = self
            .cp
            .audit_entry(id)?
            .ok_or_else(|| ControlError::NotFound(format!("audit entry {id}")))?;
        let now = self
            .cp
            .object(&e.app_id, &e.kind, &e.object_id)?
            .map(|o| o.body);
        if now != e.after {
            return Err(ControlError::invalid(
                "id",
                "the object changed after this entry; revert the later change first",
            ));
        }
        let change = Change {
            app_id: e.app_id.clone(),
            kind: e.kind.clone(),
            object_id: e.object_id.clone(),
            action: format!("{}.revert", e.action),
            after: e.before.clone(),
            reason: reason.to_string(),
            alert: e.alert.clone(),
            client_visible: true,
        };
        let out = self.cp.apply_change(
            &change,
            &Applied {
                actor,
                reverts: Some(id),
                ..Default::default()
            },
        )?;
        self.metrics.count(&change.action, Mode::Automatic);
        Ok(out)
    }
}
