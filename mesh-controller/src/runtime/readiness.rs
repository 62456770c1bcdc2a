//! Readiness: ready once every reachable member has synced once.

use crate::members::{MemberHealth, Reachability};

/// Ready once every member is synced, or unreachable; the members still waiting otherwise.
pub(super) fn readiness(health: &[MemberHealth]) -> Result<(), String> {
    let waiting: Vec<String> = health
        .iter()
        .map(MemberHealth::status)
        .filter(|s| {
            matches!(s.reachability, Reachability::Pending)
                || (!s.synced_once && !matches!(s.reachability, Reachability::Unreachable { .. }))
        })
        .map(|s| s.name)
        .collect();
    if waiting.is_empty() {
        Ok(())
    } else {
        Err(format!("members not synced yet: {}", waiting.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn readiness_waits_for_every_reachable_member() {
        let a = MemberHealth::new("a", "n1");
        let b = MemberHealth::new("b", "n2");
        a.register_watch("Service");
        b.register_watch("Service");
        a.watch_ok("Service", true);
        let r = readiness(&[a.clone(), b.clone()]);
        assert_eq!(r, Err("members not synced yet: b".to_owned()));
        b.watch_failed("Service", "refused");
        b.evaluate(Duration::ZERO);
        assert_eq!(readiness(&[a, b]), Ok(()));
    }
}
