//! The flags the generated manifests pass to the daemons are flags the daemons accept.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn controller_deployment_flags_exist_in_the_controller_binary() {
    // Every flag the hub Deployment passes to `mesh-controller` is one `mesh-controller run` knows.
    let opts = isthmus_install::InstallOptions::defaults(isthmus_install::Role::Hub, None, None);
    let args = isthmus_install::manifests::controller_args(&opts);
    let help = Command::new(env!("CARGO_BIN_EXE_mesh-controller"))
        .args([args[0].as_str(), "--help"])
        .output()
        .unwrap();
    assert!(
        help.status.success(),
        "{}",
        String::from_utf8_lossy(&help.stderr)
    );
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        assert!(
            help.contains(flag.as_str()),
            "`mesh-controller {}` has no {flag}:\n{help}",
            args[0]
        );
    }
}

#[test]
fn dns_proxy_workload_flags_parse_with_the_dns_proxy_cli() {
    use clap::Parser;
    let args =
        isthmus_install::manifests::dns_proxy_args(&isthmus_install::InstallOptions::defaults(
            isthmus_install::Role::Member,
            Some("east"),
            Some("net-east"),
        ));
    let parsed = dns_proxy::config::Args::try_parse_from(
        std::iter::once("dns-proxy".to_owned()).chain(args.clone()),
    );
    let parsed = parsed.unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert_eq!(parsed.source, dns_proxy::config::SourceSpec::Kube);
    assert_eq!(
        parsed.listen.port(),
        isthmus_install::manifests::DNS_PROXY_PORT
    );
    assert_eq!(
        parsed.metrics_listen.map(|a| a.port()),
        Some(isthmus_install::manifests::DNS_PROXY_HTTP_PORT)
    );
}
