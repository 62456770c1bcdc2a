//! ServiceExport status conditions.

use isthmus_api::mcs::{ServiceExportStatus, condition, reason};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::model::ExportObj;

/// What reconcile concluded about one export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No Service of that name (`Valid=False NoService`); the message.
    NoService(String),
    /// An ExternalName Service (`Valid=False InvalidServiceType`); the message.
    InvalidServiceType(String),
    /// Exported; `conflict` is `(reason, message)` when in conflict.
    Exported {
        /// Members the service is imported into.
        imported_in: usize,
        /// Conflict reason and message.
        conflict: Option<(String, String)>,
    },
}

fn cond(
    export: &ExportObj,
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    now: Timestamp,
) -> Condition {
    let status = if status { "True" } else { "False" }.to_owned();
    // lastTransitionTime moves only when the status flips.
    let since = export
        .conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: type_.to_owned(),
        status,
        reason: reason.to_owned(),
        message,
        observed_generation: Some(export.generation),
        last_transition_time: since,
    }
}

/// The status for `export`. `Conflict` is present only for exported (valid) services.
pub fn export_status(export: &ExportObj, verdict: &Verdict, now: Timestamp) -> ServiceExportStatus {
    let mut conditions = Vec::with_capacity(3);
    match verdict {
        Verdict::NoService(message) => {
            conditions.push(cond(
                export,
                condition::VALID,
                false,
                reason::NO_SERVICE,
                message.clone(),
                now,
            ));
            conditions.push(cond(
                export,
                condition::READY,
                false,
                reason::PENDING,
                "ServiceExport is not valid".to_owned(),
                now,
            ));
        }
        Verdict::InvalidServiceType(message) => {
            conditions.push(cond(
                export,
                condition::VALID,
                false,
                reason::INVALID_SERVICE_TYPE,
                message.clone(),
                now,
            ));
            conditions.push(cond(
                export,
                condition::READY,
                false,
                reason::PENDING,
                "ServiceExport is not valid".to_owned(),
                now,
            ));
        }
        Verdict::Exported {
            imported_in,
            conflict,
        } => {
            conditions.push(cond(
                export,
                condition::VALID,
                true,
                reason::VALID,
                "Service is valid for export".to_owned(),
                now,
            ));
            conditions.push(cond(
                export,
                condition::READY,
                true,
                reason::READY,
                format!("Service is exported and imported in {imported_in} cluster(s)"),
                now,
            ));
            conditions.push(match conflict {
                Some((r, m)) => cond(export, condition::CONFLICT, true, r, m.clone(), now),
                None => cond(
                    export,
                    condition::CONFLICT,
                    false,
                    reason::NO_CONFLICTS,
                    "No conflicts".to_owned(),
                    now,
                ),
            });
        }
    }
    ServiceExportStatus { conditions }
}

/// Whether the stored conditions say `Conflict=True`.
pub fn was_conflicted(export: &ExportObj) -> bool {
    export
        .conditions
        .iter()
        .any(|c| c.type_ == condition::CONFLICT && c.status == "True")
}
