//! Property test: after any sequence of index changes, an incremental pass gives exactly what a
//! full reconcile of the same snapshot gives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use isthmus_api::mcs::ServiceExportSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::fixtures::*;
use super::{Reconciler, reconcile};
use crate::index::Dirty;
use crate::model::{McsVersion, NsName};

/// A small deterministic generator (xorshift64*), so failures are reproducible by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const CLUSTERS: [&str; 4] = ["c1", "c2", "c3", "c4"];
const NAMESPACES: [&str; 2] = ["ns1", "ns2"];
const SERVICES: [&str; 4] = ["a", "b", "c", "d"];

/// One random change of the index, like a watch event would make.
fn random_change(w: &mut World, rng: &mut Rng, last: &crate::model::Desired) {
    let c = rng.pick(&CLUSTERS);
    let ns = rng.pick(&NAMESPACES);
    let name = rng.pick(&SERVICES);
    let key = NsName::new(ns, name);
    match rng.below(16) {
        0 | 1 => {
            let mut s = svc(ns, name).in_cluster(c);
            s = match rng.below(5) {
                0 => s.headless(),
                1 => s.ports(&[("http", 80 + rng.below(2) as i32, "TCP")]),
                2 => s.affinity("ClientIP"),
                3 if rng.below(4) == 0 => s.external_name(),
                _ => s,
            };
            w.add(s);
        }
        2 => {
            let _ = w.index.delete_service(c, &key);
        }
        3 | 4 => {
            let mut e = export(ns, name)
                .in_cluster(c)
                .at(1_700_000_000 + rng.below(3) as i64);
            if rng.below(3) == 0 {
                e = e.label("tier", rng.pick(&["web", "db"]));
            }
            w.add(e);
        }
        5 => {
            let _ = w.index.delete_export(c, &key);
        }
        6 | 7 => {
            let slice_name = format!("{name}-{}", rng.below(2));
            let addr = format!("10.{}.0.{}", rng.below(4), rng.below(8));
            w.add(
                slice(ns, name, &slice_name)
                    .in_cluster(c)
                    .endpoint(&addr, rng.below(2) == 0),
            );
        }
        8 => {
            let _ = w
                .index
                .delete_slice(c, &NsName::new(ns, format!("{name}-{}", rng.below(2))));
        }
        9 => w.add(NsFx(c, ns)),
        10 => {
            let _ = w.index.delete_namespace(c, ns);
        }
        11 => {
            // The echo of an import the controller wrote (its VIP), or a user's import.
            let i = import(ns, name).in_cluster(c);
            if rng.below(4) == 0 {
                w.add(i.user_owned());
            } else {
                let ip = format!("242.0.{}.{}", rng.below(2), 1 + rng.below(3));
                w.add(i.ips(&[&ip]));
            }
        }
        12 => {
            let _ = w.index.delete_import(c, &key);
        }
        13 => {
            // The echo of the export status the controller wrote.
            let Some(st) = last.export_status.get(&(c.to_owned(), key.clone())) else {
                return;
            };
            let Some(e) = w.index.member(c).and_then(|m| m.exports.get(&key)).cloned() else {
                return;
            };
            let meta = ObjectMeta {
                namespace: Some(ns.to_owned()),
                name: Some(name.to_owned()),
                creation_timestamp: Some(Time(e.created)),
                uid: Some(e.uid.clone()),
                generation: Some(e.generation),
                ..ObjectMeta::default()
            };
            let spec = ServiceExportSpec {
                exported_labels: e.exported_labels.clone(),
                exported_annotations: e.exported_annotations.clone(),
            };
            let _ = w.index.apply_export_parts(c, &meta, &spec, Some(st));
        }
        14 => match rng.below(3) {
            // Down beyond the grace period, down within it, or back.
            0 => w.down(c, ts(1_800_000_000 - 3_600)),
            1 => w.down(c, ts(1_800_000_000 - 60)),
            _ => w.up(c),
        },
        _ => {
            let v = if rng.below(2) == 0 {
                McsVersion::V1alpha1
            } else {
                McsVersion::V1beta1
            };
            let _ = w.index.set_mcs_version(c, v);
        }
    }
}

#[test]
fn incremental_passes_equal_full_recomputation() {
    let mut incremental_passes = 0;
    for seed in 1..=60u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut w = world(&CLUSTERS);
        let mut r = Reconciler::new();
        let mut last = r
            .pass(&w.snap(), w.index.take_dirty(), &w.cfg, now())
            .to_desired();
        for step in 0..40 {
            for _ in 0..1 + rng.below(3) {
                random_change(&mut w, &mut rng, &last);
            }
            let dirty = w.index.take_dirty();
            let pass = r.pass(&w.snap(), dirty, &w.cfg, now());
            if !pass.stats.full {
                incremental_passes += 1;
            }
            let got = pass.to_desired();
            let want = reconcile(&w.snap(), &w.cfg, now());
            assert_eq!(got, want, "seed {seed}, step {step}");
            last = got;
        }
    }
    // The generator must exercise the incremental path, not only full passes.
    assert!(incremental_passes > 1_000, "{incremental_passes}");
}

#[test]
fn an_unchanged_index_recomputes_nothing() {
    let mut w = world(&["c1", "c2"])
        .with(NsFx("c2", "ns"))
        .with(svc("ns", "web"))
        .with(export("ns", "web"))
        .with(slice("ns", "web", "web-1").endpoint("10.0.0.1", true));
    let mut r = Reconciler::new();
    let first = r.pass(&w.snap(), w.index.take_dirty(), &w.cfg, now());
    assert!(first.stats.full);
    let again = r.pass(&w.snap(), w.index.take_dirty(), &w.cfg, now());
    assert!(!again.stats.full);
    assert_eq!(again.stats.recomputed, 0);
    assert_eq!(again.to_desired(), first.to_desired());
    // One slice change recomputes that service only.
    w.add(slice("ns", "web", "web-1").endpoint("10.0.0.2", true));
    w.add(svc("ns", "other").in_cluster("c2"));
    let third = r.pass(&w.snap(), w.index.take_dirty(), &w.cfg, now());
    assert_eq!(third.stats.recomputed, 1);
    assert_eq!(third.to_desired(), reconcile(&w.snap(), &w.cfg, now()));
}

#[test]
fn objects_are_shared_between_members() {
    let mut w = world(&["c1", "c2", "c3"])
        .with(NsFx("c2", "ns"))
        .with(NsFx("c3", "ns"))
        .with(svc("ns", "web"))
        .with(export("ns", "web"));
    let d = Reconciler::new().pass(&w.snap(), w.index.take_dirty(), &w.cfg, now());
    let per_member = d.objects_by_member();
    assert_eq!(per_member.len(), 3);
    let import = |i: usize| {
        per_member[i]
            .iter()
            .find(|o| o.key.kind == "ServiceImport")
            .cloned()
            .unwrap()
    };
    assert!(std::sync::Arc::ptr_eq(&import(0), &import(2)));
    // The status travels apart from the body, for the status subresource.
    let i = import(1);
    assert!(i.body.get("status").is_none());
    assert_eq!(i.status.as_ref().unwrap()["clusters"][0]["cluster"], "c1");
}

#[test]
fn grace_expiry_alone_recomputes_everything() {
    let mut w = world(&["c1", "c2"])
        .with(NsFx("c2", "ns"))
        .with(svc("ns", "web").in_cluster("c2"))
        .with(export("ns", "web").in_cluster("c2"));
    w.down("c2", now());
    let mut r = Reconciler::new();
    let _ = r.pass(&w.snap(), w.index.take_dirty(), &w.cfg, now());
    let later = ts(1_800_000_000 + 3_600);
    let d = r.pass(&w.snap(), Dirty::default(), &w.cfg, later);
    assert!(d.stats.full);
    assert_eq!(d.to_desired(), reconcile(&w.snap(), &w.cfg, later));
    assert!(d.services.is_empty());
}
