//! The printer of Events (`printEvent` and `formatEventSource` in
//! `pkg/printers/internalversion/printers.go`). A real API server stores `v1` and
//! `events.k8s.io/v1` Events as one internal type and prints both alike; an
//! `events.k8s.io/v1` Event is read through the same field mapping (`regarding` is the
//! involved object, `note` the message, `deprecated*` the legacy fields).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::column::{Column, Row};
use super::fields::{object_name, text};
use super::format::{since, timestamp};

pub(super) const EVENT: &[Column] = &[
    Column::new(
        "Last Seen",
        "string",
        0,
        "Time since the event was last seen.",
    ),
    Column::new("Type", "string", 0, "Type of this event (Normal, Warning)."),
    Column::new(
        "Reason",
        "string",
        0,
        "Why the action was taken, machine-readable.",
    ),
    Column::new("Object", "string", 0, "The object this event is about."),
    Column::new(
        "Subobject",
        "string",
        1,
        "The part of the object, like a container.",
    ),
    Column::new("Source", "string", 1, "The component reporting this event."),
    Column::new("Message", "string", 0, "A human-readable description."),
    Column::new(
        "First Seen",
        "string",
        1,
        "Time since the event was first seen.",
    ),
    Column::new(
        "Count",
        "string",
        1,
        "The number of times the event occurred.",
    ),
    Column::name_with_priority(1),
];

/// The fields the printer reads, under their `v1` names.
struct EventFields<'a> {
    involved: Option<&'a Value>,
    message: &'a str,
    source: Option<&'a Value>,
    first: Option<&'a Value>,
    last: Option<&'a Value>,
    count: i64,
}

pub(super) fn core_event(obj: &Value, now: Timestamp) -> Row {
    row(
        obj,
        &EventFields {
            involved: obj.get("involvedObject"),
            message: text(obj, "/message"),
            source: obj.get("source"),
            first: obj.get("firstTimestamp"),
            last: obj.get("lastTimestamp"),
            count: obj.get("count").and_then(Value::as_i64).unwrap_or(0),
        },
        now,
    )
}

pub(super) fn events_v1_event(obj: &Value, now: Timestamp) -> Row {
    row(
        obj,
        &EventFields {
            involved: obj.get("regarding"),
            message: text(obj, "/note"),
            source: obj.get("deprecatedSource"),
            first: obj.get("deprecatedFirstTimestamp"),
            last: obj.get("deprecatedLastTimestamp"),
            count: obj
                .get("deprecatedCount")
                .and_then(Value::as_i64)
                .unwrap_or(0),
        },
        now,
    )
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

fn row(obj: &Value, f: &EventFields<'_>, now: Timestamp) -> Row {
    let first_time = timestamp(f.first);
    let first = if first_time.is_some() {
        since(first_time, now)
    } else {
        since(timestamp(obj.get("eventTime")), now)
    };
    let mut last = match timestamp(f.last) {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let mut count = f.count;
    match obj.get("series").filter(|s| s.is_object()) {
        Some(series) => {
            last = since(timestamp(series.get("lastObservedTime")), now);
            count = series.get("count").and_then(Value::as_i64).unwrap_or(0);
        }
        // Singleton events have no count in the new API.
        None if count == 0 => count = 1,
        None => {}
    }
    let involved = f.involved.unwrap_or(&Value::Null);
    let kind = text(involved, "/kind").to_lowercase();
    let name = text(involved, "/name");
    let target = if name.is_empty() {
        kind
    } else {
        format!("{kind}/{name}")
    };
    let source = f.source.unwrap_or(&Value::Null);
    let component = first_non_empty(
        text(source, "/component"),
        text(obj, "/reportingController"),
    );
    let host = first_non_empty(text(source, "/host"), text(obj, "/reportingInstance"));
    let source = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };
    Row::new(vec![
        json!(last),
        json!(text(obj, "/type")),
        json!(text(obj, "/reason")),
        json!(target),
        json!(text(involved, "/fieldPath")),
        json!(source),
        json!(f.message.trim()),
        json!(first),
        json!(count),
        json!(object_name(obj)),
    ])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn columns_put_the_standard_view_first() {
        let cols: Vec<(String, i64)> = EVENT
            .iter()
            .map(|c| (c.name.to_string(), c.priority))
            .collect();
        assert_eq!(
            cols,
            [
                ("Last Seen".to_string(), 0),
                ("Type".to_string(), 0),
                ("Reason".to_string(), 0),
                ("Object".to_string(), 0),
                ("Subobject".to_string(), 1),
                ("Source".to_string(), 1),
                ("Message".to_string(), 0),
                ("First Seen".to_string(), 1),
                ("Count".to_string(), 1),
                ("Name".to_string(), 1),
            ]
        );
        assert_eq!(EVENT[9].format, "name");
    }

    #[test]
    fn core_event_cells() {
        let ev = json!({"metadata": {"name": "cart.17a"}, "type": "Warning", "reason": "Conflict",
            "message": "  two exporters disagree\n", "count": 4,
            "firstTimestamp": "2024-05-01T11:00:00Z", "lastTimestamp": "2024-05-01T11:58:00Z",
            "involvedObject": {"kind": "ServiceExport", "name": "cart", "namespace": "shop",
                "fieldPath": "spec"},
            "source": {"component": "isthmus", "host": "node-1"}});
        assert_eq!(
            core_event(&ev, now()).cells,
            vec![
                json!("2m"),
                json!("Warning"),
                json!("Conflict"),
                json!("serviceexport/cart"),
                json!("spec"),
                json!("isthmus, node-1"),
                json!("two exporters disagree"),
                json!("60m"),
                json!(4),
                json!("cart.17a"),
            ]
        );
    }

    #[test]
    fn new_style_event_uses_event_time_series_and_reporting_controller() {
        let ev = json!({"metadata": {"name": "e"}, "type": "Normal", "reason": "Synced",
            "message": "ok", "eventTime": "2024-05-01T11:59:00.000000Z",
            "reportingController": "isthmus.io/controller",
            "involvedObject": {"kind": "Namespace"}});
        let c = core_event(&ev, now()).cells;
        assert_eq!(c[0], json!("60s"), "last seen falls back to the first");
        assert_eq!(c[3], json!("namespace"), "no name: the kind alone");
        assert_eq!(c[5], json!("isthmus.io/controller"));
        assert_eq!(c[7], json!("60s"));
        assert_eq!(c[8], json!(1), "a singleton counts 1");
        let series = json!({"metadata": {"name": "e"}, "eventTime": "2024-05-01T11:00:00.000000Z",
            "series": {"count": 7, "lastObservedTime": "2024-05-01T11:59:50.000000Z"}});
        let c = core_event(&series, now()).cells;
        assert_eq!((c[0].clone(), c[8].clone()), (json!("10s"), json!(7)));
        let unknown = core_event(&json!({}), now()).cells;
        assert_eq!(unknown[0], json!("<unknown>"));
        assert_eq!(unknown[7], json!("<unknown>"));
    }

    #[test]
    fn events_v1_event_maps_its_fields() {
        let ev = json!({"apiVersion": "events.k8s.io/v1", "metadata": {"name": "e"},
            "type": "Normal", "reason": "Exported", "note": "exported to 3 clusters",
            "regarding": {"kind": "Service", "name": "cart"},
            "deprecatedSource": {"component": "isthmus"},
            "deprecatedFirstTimestamp": "2024-05-01T11:50:00Z",
            "deprecatedLastTimestamp": "2024-05-01T11:55:00Z", "deprecatedCount": 2,
            "reportingInstance": "isthmus-0"});
        assert_eq!(
            events_v1_event(&ev, now()).cells,
            vec![
                json!("5m"),
                json!("Normal"),
                json!("Exported"),
                json!("service/cart"),
                json!(""),
                json!("isthmus, isthmus-0"),
                json!("exported to 3 clusters"),
                json!("10m"),
                json!(2),
                json!("e"),
            ]
        );
    }
}
