//! Ports of a ServiceImport (`spec.ports`) and of an EndpointSlice (`ports`).

use serde_json::Value;

use super::ConvertError;
use super::json::{list, shown};
use crate::v1::Port;

/// Ports as the wire carries them: the name (empty when unnamed), the protocol in upper case
/// (`TCP` when unset), the number. A port without a number (EndpointSlices allow it: "all
/// ports") names nothing in DNS and is left out.
pub(super) fn ports(
    object: &str,
    field: &str,
    v: Option<&Value>,
) -> Result<Vec<Port>, ConvertError> {
    let items = list(object, || field.to_owned(), v)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, p) in items.iter().enumerate() {
        let number = match p.get("port") {
            None | Some(Value::Null) => continue,
            Some(n) => n,
        };
        let port = number
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (1..=65535).contains(n))
            .ok_or_else(|| {
                ConvertError::new(
                    object,
                    format!("{field}[{i}].port"),
                    format!("{number} is not a port number"),
                )
            })?;
        let protocol = match p.get("protocol") {
            None | Some(Value::Null) => "TCP".to_owned(),
            Some(v) => v
                .as_str()
                .map(str::to_ascii_uppercase)
                .filter(|p| matches!(p.as_str(), "TCP" | "UDP" | "SCTP"))
                .ok_or_else(|| {
                    ConvertError::new(
                        object,
                        format!("{field}[{i}].protocol"),
                        format!("{} is not TCP, UDP or SCTP", shown(v)),
                    )
                })?,
        };
        out.push(Port {
            name: p
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            protocol,
            port,
        });
    }
    Ok(out)
}
