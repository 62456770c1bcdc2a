//! The Dockerfile builds what the manifests run: both binaries, as the user the pods run as,
//! with the ports the manifests use. Docker is not needed: the file is checked as text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use isthmus_install::manifests::{DNS_PROXY_HTTP_PORT, DNS_PROXY_PORT, RUN_AS};
use isthmus_install::{InstallOptions, Role, render_objects};

fn root_file(name: &str) -> String {
    std::fs::read_to_string(isthmus_testing::paths::repo_root().join(name)).unwrap()
}

/// The stages of the Dockerfile: (name, lines).
fn stages() -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in root_file("Dockerfile")
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
    {
        if let Some(rest) = line.strip_prefix("FROM ") {
            let name = rest.split(" AS ").nth(1).unwrap_or("").trim().to_owned();
            out.push((name, vec![line.to_owned()]));
        } else if let Some((_, lines)) = out.last_mut() {
            lines.push(line.to_owned());
        }
    }
    out
}

#[test]
fn build_stage_compiles_both_binaries_locked() {
    let st = stages();
    let (_, build) = st.iter().find(|(n, _)| n == "build").unwrap();
    let text = build.join("\n");
    assert!(build[0].starts_with("FROM rust:1.95"), "{}", build[0]);
    assert!(text.contains("cargo build --release --locked"), "{text}");
    assert!(text.contains("-p mesh-controller -p dns-proxy"), "{text}");
}

#[test]
fn final_images_are_minimal_and_non_root() {
    let st = stages();
    for bin in ["mesh-controller", "dns-proxy"] {
        let (_, lines) = st
            .iter()
            .find(|(n, _)| n == bin)
            .unwrap_or_else(|| panic!("no stage {bin}"));
        assert_eq!(lines[0], format!("FROM scratch AS {bin}"));
        assert!(
            lines.contains(&format!("USER {RUN_AS}:{RUN_AS}")),
            "{bin}: {lines:?}"
        );
        assert!(
            lines.contains(&format!("ENTRYPOINT [\"/{bin}\"]")),
            "{bin}: {lines:?}"
        );
    }
    let (_, dns) = st.iter().find(|(n, _)| n == "dns-proxy").unwrap();
    assert!(
        dns.contains(&format!(
            "EXPOSE {DNS_PROXY_PORT}/udp {DNS_PROXY_PORT}/tcp {DNS_PROXY_HTTP_PORT}/tcp"
        )),
        "{dns:?}"
    );
}

#[test]
fn build_context_keeps_what_the_build_reads() {
    // install embeds deploy/crds; the workspace needs every crate. Only outputs are ignored.
    let ignore = root_file(".dockerignore");
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(patterns.contains(&"target/"), "{patterns:?}");
    for kept in [
        "deploy",
        "api",
        "proto",
        "gateway-config",
        "mesh-controller",
        "dns-proxy",
        "tests",
        "Cargo.lock",
    ] {
        assert!(
            !patterns
                .iter()
                .any(|p| p.trim_end_matches('/') == kept || p.starts_with(&format!("{kept}/"))),
            ".dockerignore drops {kept}"
        );
    }
}

#[test]
fn manifests_name_no_registry_host() {
    // Images are `isthmus/<name>:<tag>` or what the user passes; the first path part of a
    // registry host has a dot, a colon or is `localhost`.
    for role in [Role::Hub, Role::Member] {
        let opts = InstallOptions::defaults(role, Some("east"), Some("n1"));
        for o in render_objects(&opts).unwrap() {
            for c in o
                .pointer("/spec/template/spec/containers")
                .and_then(|c| c.as_array())
                .into_iter()
                .flatten()
            {
                let image = c["image"].as_str().unwrap();
                let first = image.split('/').next().unwrap();
                assert!(
                    image.contains('/') && !first.contains(['.', ':']) && first != "localhost",
                    "{image}"
                );
                assert!(
                    image.ends_with(&format!(":{}", env!("CARGO_PKG_VERSION"))),
                    "{image}"
                );
            }
        }
    }
}
