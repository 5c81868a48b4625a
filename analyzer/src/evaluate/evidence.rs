//! Why a rule's value is what it is, as data: the figures behind it,
//! rendered per language for the text, JUnit, HTML and the dashboard.

use serde::Serialize;
use vitals_i18n::{Lang, Msg};

/// Why a value is what it is, in data (rendered per language).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    None,
    Sessions {
        crashed: u64,
        total: u64,
    },
    Users {
        crashed: u64,
        total: u64,
    },
    WorstModel {
        model: String,
        crashed: u64,
        total: u64,
    },
    Group {
        fingerprint: String,
        exception: String,
        users: u64,
        total: u64,
        urgent: usize,
    },
    Regressions {
        fingerprints: Vec<String>,
    },
    Coverage {
        covered: usize,
        required: usize,
        missing: Vec<String>,
    },
    Samples {
        n: u64,
    },
    Models {
        models: usize,
        n: u64,
    },
    Package {
        platform: String,
        abi: String,
    },
    Notes {
        chars: usize,
    },
    NoMinVersion,
    MinVersion {
        version: String,
        days: f64,
    },
    Patch {
        patch: String,
        num: u64,
        den: u64,
    },
    Requests {
        failed: u64,
        total: u64,
        worst_site: String,
    },
    OpenGroup {
        fingerprint: String,
        days: f64,
    },
    SdkInit {
        cold_starts: u64,
        sdk_ms: f64,
    },
    Untrusted {
        untrusted: u64,
        total: u64,
    },
    NoOpenUrgent,
    /// 5.4b: users of an older release due a prompt and those shown one
    /// offering the newest version, with their answers.
    UpgradePrompt {
        newest: String,
        prompted: u64,
        due: u64,
        accepted: u64,
        declined: u64,
        later: u64,
        /// Prompts that offered another version than the newest.
        stale: u64,
    },
    /// 5.4b: the release is the newest; no prompt is due yet.
    UpgradeNotDue,
}

impl Evidence {
    pub fn render(&self, lang: Lang) -> String {
        match self {
            Evidence::None => Msg::EvidenceNone.text(lang),
            Evidence::Sessions { crashed, total } => {
                Msg::EvidenceSessions.render(lang, &[("crashed", crashed), ("total", total)])
            }
            Evidence::Users { crashed, total } => {
                Msg::EvidenceUsers.render(lang, &[("crashed", crashed), ("total", total)])
            }
            Evidence::WorstModel {
                model,
                crashed,
                total,
            } => Msg::EvidenceWorstModel.render(
                lang,
                &[("model", model), ("crashed", crashed), ("total", total)],
            ),
            Evidence::Group {
                fingerprint,
                exception,
                users,
                total,
                urgent,
            } => Msg::EvidenceGroup.render(
                lang,
                &[
                    ("fingerprint", fingerprint),
                    ("exception", exception),
                    ("users", users),
                    ("total", total),
                    ("urgent", urgent),
                ],
            ),
            Evidence::Regressions { fingerprints } if fingerprints.is_empty() => {
                Msg::EvidenceRegressions.render(lang, &[("list", &"—")])
            }
            Evidence::Regressions { fingerprints } => {
                Msg::EvidenceRegressions.render(lang, &[("list", &fingerprints.join(", "))])
            }
            Evidence::Coverage {
                covered,
                required,
                missing,
            } => {
                let list = if missing.len() > 12 {
                    format!("{} …(+{})", missing[..12].join(", "), missing.len() - 12)
                } else {
                    missing.join(", ")
                };
                Msg::EvidenceCoverage.render(
                    lang,
                    &[
                        ("covered", covered),
                        ("required", required),
                        ("missing", &list),
                    ],
                )
            }
            Evidence::Samples { n } => Msg::EvidenceSamples.render(lang, &[("n", n)]),
            Evidence::Models { models, n } => {
                Msg::EvidenceModels.render(lang, &[("models", models), ("n", n)])
            }
            Evidence::Package { platform, abi } => {
                Msg::EvidencePackage.render(lang, &[("platform", platform), ("abi", abi)])
            }
            Evidence::Notes { chars } => Msg::EvidenceNotes.render(lang, &[("chars", chars)]),
            Evidence::NoMinVersion => Msg::EvidenceNoMinVersion.text(lang),
            Evidence::MinVersion { version, days } => Msg::EvidenceMinVersion.render(
                lang,
                &[("version", version), ("days", &format!("{days:.1}"))],
            ),
            Evidence::Requests {
                failed,
                total,
                worst_site,
            } => Msg::EvidenceRequests.render(
                lang,
                &[("failed", failed), ("total", total), ("site", worst_site)],
            ),
            Evidence::OpenGroup { fingerprint, days } => Msg::EvidenceOpenGroup.render(
                lang,
                &[
                    ("fingerprint", fingerprint),
                    ("days", &format!("{days:.1}")),
                ],
            ),
            Evidence::NoOpenUrgent => Msg::EvidenceNoOpenUrgent.text(lang),
            Evidence::SdkInit {
                cold_starts,
                sdk_ms,
            } => Msg::EvidenceSdkInit
                .render(lang, &[("n", cold_starts), ("ms", &format!("{sdk_ms:.0}"))]),
            Evidence::Untrusted { untrusted, total } => {
                Msg::EvidenceUntrusted.render(lang, &[("untrusted", untrusted), ("total", total)])
            }
            Evidence::UpgradePrompt {
                newest,
                prompted,
                due,
                accepted,
                declined,
                later,
                stale,
            } => Msg::EvidenceUpgradePrompt.render(
                lang,
                &[
                    ("newest", newest),
                    ("prompted", prompted),
                    ("due", due),
                    ("accepted", accepted),
                    ("declined", declined),
                    ("later", later),
                    ("stale", stale),
                ],
            ),
            Evidence::UpgradeNotDue => Msg::EvidenceUpgradeNotDue.text(lang),
            Evidence::Patch { patch, num, den } => {
                Msg::EvidencePatch.render(lang, &[("patch", patch), ("num", num), ("den", den)])
            }
        }
    }
}
