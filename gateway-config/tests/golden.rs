//! Golden files for the rendered 3-cluster, 2-network clustersets. `UPDATE_GOLDEN=1`
//! regenerates them; review the diff before committing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use gateway_config::clusterset::ClusterSet;
use gateway_config::render;
use isthmus_testing::golden::{assert_golden, list_files, updating};
use isthmus_testing::paths::{crate_dir, repo_root};

fn check_render(cs: &ClusterSet, golden_dir: &str) {
    let rendered = render::render(cs).unwrap();
    let mut produced: Vec<PathBuf> = rendered.files.iter().map(|f| f.path.clone()).collect();
    let golden = crate_dir("gateway-config")
        .join("tests/golden")
        .join(golden_dir);
    for f in &rendered.files {
        assert_golden(&golden.join(&f.path), &f.contents);
    }
    produced.sort();
    if !updating() {
        let on_disk = list_files(&golden);
        assert_eq!(
            on_disk, produced,
            "golden files without a rendered counterpart (UPDATE_GOLDEN=1 and delete them)"
        );
    }
}

#[test]
fn golden_clusterset_render() {
    // 3 clusters, 2 networks, every gateway exposure, kubeconfigs for two members.
    let cs = ClusterSet::load(&crate_dir("gateway-config").join("tests/testdata/clusterset.yaml"))
        .unwrap();
    check_render(&cs, "clusterset");
    let rendered = render::render(&cs).unwrap();
    assert!(
        rendered.notes.iter().any(|n| n.contains("\"central\"")),
        "{:?}",
        rendered.notes
    );
}

#[test]
fn example_clusterset_render() {
    let cs = ClusterSet::from_yaml(render::EXAMPLE_CLUSTERSET, Path::new("example")).unwrap();
    check_render(&cs, "example");
}

#[test]
fn committed_example_matches_the_built_in_one() {
    let path = repo_root().join("examples/clusterset.yaml");
    let committed = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        committed,
        render::EXAMPLE_CLUSTERSET,
        "{} differs from src/example-clusterset.yaml",
        path.display()
    );
}
