//! The clusterset description: which clusters form the mesh, on which networks, and how
//! each network's east-west gateway is reached from the others.
//!
//! The format is documented in `docs/clusterset.md`. [`ClusterSet::from_yaml`] rejects
//! unknown fields and invalid values with an error naming the file and the field path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use isthmus_api::names;

/// `apiVersion` accepted in the optional header of a clusterset file.
pub const API_VERSION: &str = "isthmus.io/v1alpha1";
/// `kind` accepted in the optional header of a clusterset file.
pub const KIND: &str = "ClusterSet";
/// Clusterset name used when the file does not give one.
pub const DEFAULT_NAME: &str = "clusterset";
/// The east-west gateway's mTLS port (15443), the default port of a `Static` gateway
/// (`istio::TLS_PORT` names the same port).
pub const GATEWAY_TLS_PORT: u16 = 15443;
/// Trust domain used when the file does not give one.
pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";

/// A validated clusterset description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSet {
    /// Clusterset name (RFC 1123 label).
    pub name: String,
    /// Istio mesh ID shared by every member (`values.global.meshID`).
    pub mesh_id: String,
    /// SPIFFE trust domain shared by every member.
    pub trust_domain: String,
    /// `mcsClusterLocal`: istiod gets `ENABLE_MCS_CLUSTER_LOCAL=true`, so
    /// `<svc>.<ns>.svc.cluster.local` reaches the caller's own cluster only (as the MCS
    /// specification defines `cluster.local`). Off by default: it changes what existing
    /// clients of `cluster.local` names reach.
    pub mcs_cluster_local: bool,
    /// Member clusters, in file order.
    pub members: Vec<Member>,
}

/// One member cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Cluster name (RFC 1123 label), unique in the clusterset; Istio's `clusterName`.
    pub name: String,
    /// Istio network ID (`topology.istio.io/network`).
    pub network: String,
    /// Region label, informational.
    pub region: Option<String>,
    /// Zone label, informational.
    pub zone: Option<String>,
    /// Istio revision of the control plane in this cluster.
    pub revision: Option<String>,
    /// Kubeconfig for this cluster, resolved relative to the clusterset file.
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    pub context: Option<String>,
    /// How the east-west gateway of this cluster is reached from other networks.
    pub east_west_gateway: GatewayExposure,
    /// Free-form labels of the member.
    pub labels: BTreeMap<String, String>,
}

/// How the east-west gateway of a cluster is reached from other networks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum GatewayExposure {
    /// A `LoadBalancer` Service; Istio reads its address from the Service status.
    #[default]
    LoadBalancer,
    /// A `NodePort` Service; Istio advertises the external IPs of the nodes matching
    /// `node_selector` (annotation `traffic.istio.io/nodeSelector`).
    NodePort {
        /// Selects the nodes whose addresses are advertised. Never empty.
        node_selector: BTreeMap<String, String>,
        /// Fixed node port for the `tls` (15443) port; chosen by Kubernetes when absent.
        node_port: Option<u16>,
    },
    /// Fixed addresses (IPs or DNS names), for gateways behind an external load balancer.
    Static {
        /// Addresses, never empty.
        addresses: Vec<String>,
        /// Port on those addresses that forwards to the gateway's 15443; 15443 when absent.
        port: Option<u16>,
    },
}

impl GatewayExposure {
    /// The exposure name as written in the file (`LoadBalancer`, `NodePort`, `Static`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::LoadBalancer => "LoadBalancer",
            Self::NodePort { .. } => "NodePort",
            Self::Static { .. } => "Static",
        }
    }
}

/// Errors reading or validating a clusterset description.
#[derive(Debug, thiserror::Error)]
pub enum ClusterSetError {
    /// The file could not be read.
    #[error("{}: cannot read clusterset file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid YAML.
    #[error("{origin}: invalid YAML: {message}")]
    Syntax {
        /// The file.
        origin: String,
        /// Parser message.
        message: String,
    },
    /// A field that the format does not define.
    #[error("{origin}: {field}: unknown field")]
    UnknownField {
        /// The file.
        origin: String,
        /// Path of the unknown field, e.g. `members[0].eastWestGateway.foo`.
        field: String,
    },
    /// A required field is missing.
    #[error("{origin}: {field}: required field is missing")]
    MissingField {
        /// The file.
        origin: String,
        /// Path of the missing field.
        field: String,
    },
    /// A field holds a value that is not allowed.
    #[error("{origin}: {field}: {reason}")]
    InvalidField {
        /// The file.
        origin: String,
        /// Path of the field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Two members have the same name.
    #[error("{origin}: {field}: duplicate cluster {name:?} (first defined at {first})")]
    DuplicateMember {
        /// The file.
        origin: String,
        /// Path of the second definition's name.
        field: String,
        /// The duplicated name.
        name: String,
        /// Path of the first definition's name.
        first: String,
    },
    /// The clusterset has no members.
    #[error("{origin}: members: a clusterset needs at least one member")]
    NoMembers {
        /// The file.
        origin: String,
    },
    /// A member's east-west gateway cannot be reached from other networks.
    #[error("{origin}: {field}: network {network:?} has no way to reach its gateway: {reason}")]
    Unreachable {
        /// The file.
        origin: String,
        /// Path of the gateway field.
        field: String,
        /// The member's network.
        network: String,
        /// Why.
        reason: String,
    },
}

impl ClusterSetError {
    /// The field path the error is about, when it is about one field.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::UnknownField { field, .. }
            | Self::MissingField { field, .. }
            | Self::InvalidField { field, .. }
            | Self::DuplicateMember { field, .. }
            | Self::Unreachable { field, .. } => Some(field),
            Self::NoMembers { .. } => Some("members"),
            Self::Read { .. } | Self::Syntax { .. } => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawClusterSet {
    api_version: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    #[serde(rename = "meshID")]
    mesh_id: Option<String>,
    trust_domain: Option<String>,
    mcs_cluster_local: Option<bool>,
    members: Option<Vec<RawMember>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawMember {
    name: Option<String>,
    network: Option<String>,
    region: Option<String>,
    zone: Option<String>,
    revision: Option<String>,
    kubeconfig: Option<String>,
    context: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    east_west_gateway: Option<RawGateway>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawGateway {
    exposure: Option<String>,
    node_selector: Option<BTreeMap<String, String>>,
    node_port: Option<u16>,
    addresses: Option<Vec<String>>,
    port: Option<u16>,
}

struct Ctx<'a> {
    origin: &'a str,
}

impl Ctx<'_> {
    fn invalid(&self, field: impl Into<String>, reason: impl Into<String>) -> ClusterSetError {
        ClusterSetError::InvalidField {
            origin: self.origin.to_owned(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    fn missing(&self, field: impl Into<String>) -> ClusterSetError {
        ClusterSetError::MissingField {
            origin: self.origin.to_owned(),
            field: field.into(),
        }
    }

    fn unreachable(&self, field: String, network: &str, reason: &str) -> ClusterSetError {
        ClusterSetError::Unreachable {
            origin: self.origin.to_owned(),
            field,
            network: network.to_owned(),
            reason: reason.to_owned(),
        }
    }

    fn check(
        &self,
        field: &str,
        value: &str,
        ok: Result<(), names::NameError>,
    ) -> Result<(), ClusterSetError> {
        ok.map_err(|why| self.invalid(field, format!("{value:?} {why}")))
    }
}

impl ClusterSet {
    /// Reads and validates a clusterset file. Relative kubeconfig paths are resolved
    /// against the file's directory.
    pub fn load(path: &Path) -> Result<ClusterSet, ClusterSetError> {
        let text = std::fs::read_to_string(path).map_err(|source| ClusterSetError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml(&text, path)
    }

    /// Parses and validates a clusterset description. `origin` names the file in errors
    /// and anchors relative kubeconfig paths (its parent directory).
    pub fn from_yaml(text: &str, origin: &Path) -> Result<ClusterSet, ClusterSetError> {
        let origin_str = origin.display().to_string();
        let ctx = Ctx {
            origin: &origin_str,
        };
        let text = if text.trim().is_empty() { "{}" } else { text };
        let mut failed_at: Option<String> = None;
        let mut options = serde_saphyr::Options::default();
        options.with_snippet = false;
        let parsed = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
            serde_path_to_error::deserialize::<_, RawClusterSet>(de).map_err(|e| {
                failed_at = Some(e.path().to_string());
                e.into_inner()
            })
        });
        let raw = match parsed {
            Ok(raw) => raw,
            Err(e) => {
                return Err(shape_error(
                    &origin_str,
                    failed_at.as_deref(),
                    &e.to_string(),
                ));
            }
        };
        let base = origin.parent().unwrap_or(Path::new(""));
        raw.validate(&ctx, base)
    }

    /// Members grouped by network, networks in name order, members in file order.
    pub fn networks(&self) -> BTreeMap<String, Vec<&Member>> {
        let mut out: BTreeMap<String, Vec<&Member>> = BTreeMap::new();
        for m in &self.members {
            out.entry(m.network.clone()).or_default().push(m);
        }
        out
    }

    /// The member with this name.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// Turns a YAML/serde error (with the path where it happened, if any) into a
/// [`ClusterSetError`].
fn shape_error(origin: &str, path: Option<&str>, msg: &str) -> ClusterSetError {
    let Some(path) = path else {
        return ClusterSetError::Syntax {
            origin: origin.to_owned(),
            message: msg.to_owned(),
        };
    };
    let path = if path == "." { "" } else { path };
    let join = |leaf: &str| {
        if path.is_empty() {
            leaf.to_owned()
        } else {
            format!("{path}.{leaf}")
        }
    };
    let quoted = |after: &str| {
        msg.split(after)
            .nth(1)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    if let Some(name) = quoted("unknown field `") {
        // serde_path_to_error may already end the path with the unknown key.
        let field = if path == name || path.ends_with(&format!(".{name}")) {
            path.to_owned()
        } else {
            join(&name)
        };
        return ClusterSetError::UnknownField {
            origin: origin.to_owned(),
            field,
        };
    }
    if let Some(name) = quoted("missing field `") {
        return ClusterSetError::MissingField {
            origin: origin.to_owned(),
            field: join(&name),
        };
    }
    if path.is_empty() && msg.contains("invalid type") {
        return ClusterSetError::InvalidField {
            origin: origin.to_owned(),
            field: "(document)".to_owned(),
            reason: format!("a clusterset must be a YAML mapping ({msg})"),
        };
    }
    if path.is_empty() {
        return ClusterSetError::Syntax {
            origin: origin.to_owned(),
            message: msg.to_owned(),
        };
    }
    ClusterSetError::InvalidField {
        origin: origin.to_owned(),
        field: path.to_owned(),
        reason: msg.to_owned(),
    }
}

impl RawClusterSet {
    fn validate(self, ctx: &Ctx<'_>, base: &Path) -> Result<ClusterSet, ClusterSetError> {
        if let Some(v) = &self.api_version
            && v != API_VERSION
        {
            return Err(ctx.invalid(
                "apiVersion",
                format!("{v:?} is not supported, expected {API_VERSION:?}"),
            ));
        }
        if let Some(k) = &self.kind
            && k != KIND
        {
            return Err(ctx.invalid("kind", format!("{k:?} is not supported, expected {KIND:?}")));
        }
        let name = self.name.unwrap_or_else(|| DEFAULT_NAME.to_owned());
        ctx.check("name", &name, names::rfc1123_label(&name))?;
        let mesh_id = self.mesh_id.ok_or_else(|| ctx.missing("meshID"))?;
        ctx.check("meshID", &mesh_id, names::label_value_nonempty(&mesh_id))?;
        let trust_domain = self
            .trust_domain
            .unwrap_or_else(|| DEFAULT_TRUST_DOMAIN.to_owned());
        ctx.check(
            "trustDomain",
            &trust_domain,
            names::trust_domain(&trust_domain),
        )?;
        let raw_members = self.members.unwrap_or_default();
        if raw_members.is_empty() {
            return Err(ClusterSetError::NoMembers {
                origin: ctx.origin.to_owned(),
            });
        }
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut members = Vec::with_capacity(raw_members.len());
        for (i, raw) in raw_members.into_iter().enumerate() {
            let at = format!("members[{i}]");
            let member = raw.validate(ctx, &at, base)?;
            let name_field = format!("{at}.name");
            if let Some(first) = seen.get(&member.name) {
                return Err(ClusterSetError::DuplicateMember {
                    origin: ctx.origin.to_owned(),
                    field: name_field,
                    name: member.name,
                    first: first.clone(),
                });
            }
            seen.insert(member.name.clone(), name_field);
            members.push(member);
        }
        check_static_addresses_per_network(ctx, &members)?;
        Ok(ClusterSet {
            name,
            mesh_id,
            trust_domain,
            mcs_cluster_local: self.mcs_cluster_local.unwrap_or(false),
            members,
        })
    }
}

/// A Static gateway address and port belong to one network: the same `address:port` listed
/// for two networks would send one network's traffic to the other's gateway.
fn check_static_addresses_per_network(
    ctx: &Ctx<'_>,
    members: &[Member],
) -> Result<(), ClusterSetError> {
    let mut owner: BTreeMap<(String, u16), (&str, String)> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        let GatewayExposure::Static { addresses, port } = &m.east_west_gateway else {
            continue;
        };
        let port = port.unwrap_or(GATEWAY_TLS_PORT);
        for (j, a) in addresses.iter().enumerate() {
            let field = format!("members[{i}].eastWestGateway.addresses[{j}]");
            let key = (a.trim_end_matches('.').to_ascii_lowercase(), port);
            match owner.get(&key) {
                Some((network, first)) if *network != m.network => {
                    return Err(ctx.invalid(
                        field,
                        format!(
                            "{a}:{port} is already the gateway of network {network:?} ({first}); an address and port belong to one network"
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    owner.insert(key, (m.network.as_str(), field));
                }
            }
        }
    }
    Ok(())
}

impl RawMember {
    fn validate(self, ctx: &Ctx<'_>, at: &str, base: &Path) -> Result<Member, ClusterSetError> {
        let name = self.name.ok_or_else(|| ctx.missing(format!("{at}.name")))?;
        ctx.check(&format!("{at}.name"), &name, names::rfc1123_label(&name))?;
        let network = self
            .network
            .ok_or_else(|| ctx.missing(format!("{at}.network")))?;
        ctx.check(
            &format!("{at}.network"),
            &network,
            names::label_value_nonempty(&network),
        )?;
        for (field, value) in [("region", &self.region), ("zone", &self.zone)] {
            if let Some(v) = value {
                ctx.check(&format!("{at}.{field}"), v, names::label_value_nonempty(v))?;
            }
        }
        if let Some(r) = &self.revision {
            ctx.check(&format!("{at}.revision"), r, names::rfc1123_label(r))?;
        }
        let kubeconfig = match self.kubeconfig {
            None => None,
            Some(k) if k.trim().is_empty() => {
                return Err(ctx.invalid(format!("{at}.kubeconfig"), "must not be empty"));
            }
            Some(k) => Some(base.join(k)),
        };
        if let Some(c) = &self.context
            && c.trim().is_empty()
        {
            return Err(ctx.invalid(format!("{at}.context"), "must not be empty"));
        }
        for (k, v) in &self.labels {
            ctx.check(&format!("{at}.labels"), k, names::qualified_name(k))?;
            ctx.check(&format!("{at}.labels.{k}"), v, names::label_value(v))?;
        }
        let gw_at = format!("{at}.eastWestGateway");
        let east_west_gateway = match self.east_west_gateway {
            None => GatewayExposure::LoadBalancer,
            Some(g) => g.validate(ctx, &gw_at, &network)?,
        };
        Ok(Member {
            name,
            network,
            region: self.region,
            zone: self.zone,
            revision: self.revision,
            kubeconfig,
            context: self.context,
            east_west_gateway,
            labels: self.labels,
        })
    }
}

impl RawGateway {
    fn validate(
        self,
        ctx: &Ctx<'_>,
        at: &str,
        network: &str,
    ) -> Result<GatewayExposure, ClusterSetError> {
        let exposure = self.exposure.as_deref().unwrap_or("LoadBalancer");
        let not_for = |field: &str, present: bool| -> Result<(), ClusterSetError> {
            if present {
                Err(ctx.invalid(
                    format!("{at}.{field}"),
                    format!("not allowed with exposure {exposure}"),
                ))
            } else {
                Ok(())
            }
        };
        for (field, p) in [("nodePort", self.node_port), ("port", self.port)] {
            if p == Some(0) {
                return Err(ctx.invalid(format!("{at}.{field}"), "port 0 is not a valid port"));
            }
        }
        match exposure {
            "LoadBalancer" => {
                not_for("nodeSelector", self.node_selector.is_some())?;
                not_for("nodePort", self.node_port.is_some())?;
                not_for("addresses", self.addresses.is_some())?;
                not_for("port", self.port.is_some())?;
                Ok(GatewayExposure::LoadBalancer)
            }
            "NodePort" => {
                not_for("port", self.port.is_some())?;
                if self.addresses.is_some() {
                    return Err(ctx.invalid(
                        format!("{at}.addresses"),
                        "not allowed with exposure NodePort (use exposure Static with the node addresses and port)",
                    ));
                }
                let node_selector = self.node_selector.unwrap_or_default();
                if node_selector.is_empty() {
                    return Err(ctx.unreachable(
                        format!("{at}.nodeSelector"),
                        network,
                        "exposure NodePort needs a non-empty nodeSelector choosing the nodes whose addresses are advertised",
                    ));
                }
                for (k, v) in &node_selector {
                    ctx.check(&format!("{at}.nodeSelector"), k, names::qualified_name(k))?;
                    ctx.check(&format!("{at}.nodeSelector.{k}"), v, names::label_value(v))?;
                }
                if let Some(p) = self.node_port
                    && !(30000..=32767).contains(&p)
                {
                    return Err(ctx.invalid(
                        format!("{at}.nodePort"),
                        format!("{p} is outside the Kubernetes node port range 30000-32767"),
                    ));
                }
                Ok(GatewayExposure::NodePort {
                    node_selector,
                    node_port: self.node_port,
                })
            }
            "Static" => {
                not_for("nodeSelector", self.node_selector.is_some())?;
                not_for("nodePort", self.node_port.is_some())?;
                let addresses = self.addresses.unwrap_or_default();
                if addresses.is_empty() {
                    return Err(ctx.unreachable(
                        format!("{at}.addresses"),
                        network,
                        "exposure Static needs at least one address",
                    ));
                }
                let mut seen = BTreeSet::new();
                for (i, a) in addresses.iter().enumerate() {
                    let field = format!("{at}.addresses[{i}]");
                    // istiod drops the whole mesh networks when one gateway address is
                    // invalid, so it must be refused here.
                    names::address(a).map_err(|_| {
                        ctx.invalid(
                            field.clone(),
                            format!("{a:?} is neither an IP address nor a DNS name istiod accepts (a DNS name's last label must not be all digits)"),
                        )
                    })?;
                    if !seen.insert(a.as_str()) {
                        return Err(ctx.invalid(field, format!("{a:?} is listed twice")));
                    }
                }
                Ok(GatewayExposure::Static {
                    addresses,
                    port: self.port,
                })
            }
            other => Err(ctx.invalid(
                format!("{at}.exposure"),
                format!("{other:?} is not one of LoadBalancer, NodePort, Static"),
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClusterSet, ClusterSetError> {
        ClusterSet::from_yaml(text, Path::new("dir/clusterset.yaml"))
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    const FULL: &str = r#"
apiVersion: isthmus.io/v1alpha1
kind: ClusterSet
name: demo
meshID: mesh1
trustDomain: example.org
members:
  - name: east
    network: net-east
    region: us-east-1
    zone: us-east-1a
    revision: canary
    kubeconfig: kubeconfigs/east.yaml
    context: east-admin
    labels: {env: prod}
    eastWestGateway:
      exposure: LoadBalancer
  - name: west
    network: net-west
    eastWestGateway:
      exposure: NodePort
      nodeSelector: {node-role/gateway: "true"}
      nodePort: 31443
  - name: west2
    network: net-west
    kubeconfig: /abs/west2.yaml
    eastWestGateway:
      exposure: Static
      addresses: [203.0.113.10, gw.example.com]
      port: 15443
"#;

    #[test]
    fn parses_every_field() {
        let cs = parse(FULL).unwrap();
        assert_eq!(cs.name, "demo");
        assert_eq!(cs.mesh_id, "mesh1");
        assert_eq!(cs.trust_domain, "example.org");
        assert_eq!(cs.members.len(), 3);
        let east = &cs.members[0];
        assert_eq!(east.region.as_deref(), Some("us-east-1"));
        assert_eq!(east.zone.as_deref(), Some("us-east-1a"));
        assert_eq!(east.revision.as_deref(), Some("canary"));
        assert_eq!(
            east.kubeconfig.as_deref(),
            Some(Path::new("dir/kubeconfigs/east.yaml"))
        );
        assert_eq!(east.context.as_deref(), Some("east-admin"));
        assert_eq!(east.labels.get("env").map(String::as_str), Some("prod"));
        assert_eq!(east.east_west_gateway, GatewayExposure::LoadBalancer);
        let west = &cs.members[1];
        assert_eq!(
            west.east_west_gateway,
            GatewayExposure::NodePort {
                node_selector: BTreeMap::from([(
                    "node-role/gateway".to_owned(),
                    "true".to_owned()
                )]),
                node_port: Some(31443),
            }
        );
        let west2 = &cs.members[2];
        assert_eq!(
            west2.kubeconfig.as_deref(),
            Some(Path::new("/abs/west2.yaml"))
        );
        assert_eq!(
            west2.east_west_gateway,
            GatewayExposure::Static {
                addresses: vec!["203.0.113.10".to_owned(), "gw.example.com".to_owned()],
                port: Some(15443),
            }
        );
        let nets = cs.networks();
        assert_eq!(nets.keys().collect::<Vec<_>>(), ["net-east", "net-west"]);
        assert_eq!(
            nets["net-west"]
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>(),
            ["west", "west2"]
        );
        assert_eq!(
            cs.member("west").map(|m| m.network.as_str()),
            Some("net-west")
        );
    }

    #[test]
    fn applies_defaults() {
        let cs = parse("meshID: m\nmembers:\n- name: a\n  network: n\n").unwrap();
        assert_eq!(cs.name, DEFAULT_NAME);
        assert_eq!(cs.trust_domain, DEFAULT_TRUST_DOMAIN);
        assert_eq!(
            cs.members[0].east_west_gateway,
            GatewayExposure::LoadBalancer
        );
        assert!(cs.members[0].labels.is_empty());
        assert_eq!(cs.members[0].kubeconfig, None);
    }

    #[test]
    fn unknown_fields_name_their_path() {
        let e = parse("meshID: m\nbogus: 1\nmembers:\n- name: a\n  network: n\n").unwrap_err();
        assert_eq!(e.field(), Some("bogus"));
        assert_eq!(e.to_string(), "dir/clusterset.yaml: bogus: unknown field");
        let e = parse(
            "meshID: m\nmembers:\n- name: a\n  network: n\n- name: b\n  network: n\n  netwrk: x\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "dir/clusterset.yaml: members[1].netwrk: unknown field"
        );
        let e = parse("meshID: m\nmembers:\n- name: a\n  network: n\n  eastWestGateway: {exposure: Static, adresses: [x]}\n")
            .unwrap_err();
        assert_eq!(e.field(), Some("members[0].eastWestGateway.adresses"));
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(
            err("meshID: m\nmembers:\n- name: a\n  network: n\n- name: East_1\n  network: n\n"),
            r#"dir/clusterset.yaml: members[1].name: "East_1" is not an RFC 1123 label"#
        );
        assert!(
            err("meshID: m\nname: Bad Name\nmembers:\n- name: a\n  network: n\n")
                .contains("name: \"Bad Name\"")
        );
        assert!(
            err("meshID: m\nmembers:\n- name: a\n  network: 'n n'\n")
                .contains("members[0].network")
        );
        assert!(
            err("meshID: m\nmembers:\n- name: a\n  network: n\n  revision: Canary\n")
                .contains("members[0].revision")
        );
        let long = "a".repeat(64);
        assert!(
            err(&format!(
                "meshID: m\nmembers:\n- name: {long}\n  network: n\n"
            ))
            .contains("members[0].name")
        );
    }

    #[test]
    fn rejects_duplicates_and_empty_members() {
        let e = parse("meshID: m\nmembers:\n- name: a\n  network: n\n- name: b\n  network: n\n- name: a\n  network: x\n")
            .unwrap_err();
        assert!(
            matches!(&e, ClusterSetError::DuplicateMember { name, first, .. } if name == "a" && first == "members[0].name")
        );
        assert_eq!(e.field(), Some("members[2].name"));
        assert!(matches!(
            parse("meshID: m\nmembers: []\n").unwrap_err(),
            ClusterSetError::NoMembers { .. }
        ));
        assert!(matches!(
            parse("meshID: m\n").unwrap_err(),
            ClusterSetError::NoMembers { .. }
        ));
    }

    #[test]
    fn rejects_missing_required_fields() {
        let e = parse("members:\n- name: a\n  network: n\n").unwrap_err();
        assert!(matches!(&e, ClusterSetError::MissingField { field, .. } if field == "meshID"));
        let e = parse("meshID: m\nmembers:\n- name: a\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dir/clusterset.yaml: members[0].network: required field is missing"
        );
    }

    #[test]
    fn rejects_unreachable_gateways() {
        let e = parse("meshID: m\nmembers:\n- name: a\n  network: n1\n  eastWestGateway: {exposure: Static}\n").unwrap_err();
        assert!(
            matches!(&e, ClusterSetError::Unreachable { network, .. } if network == "n1"),
            "{e}"
        );
        assert_eq!(e.field(), Some("members[0].eastWestGateway.addresses"));
        let e = parse("meshID: m\nmembers:\n- name: a\n  network: n1\n  eastWestGateway: {exposure: Static, addresses: []}\n")
            .unwrap_err();
        assert!(matches!(e, ClusterSetError::Unreachable { .. }));
        let e = parse("meshID: m\nmembers:\n- name: a\n  network: n1\n  eastWestGateway: {exposure: NodePort}\n").unwrap_err();
        assert!(
            matches!(&e, ClusterSetError::Unreachable { field, .. } if field == "members[0].eastWestGateway.nodeSelector")
        );
        let e = parse("meshID: m\nmembers:\n- name: a\n  network: n1\n  eastWestGateway: {exposure: NodePort, nodeSelector: {}}\n")
            .unwrap_err();
        assert!(matches!(e, ClusterSetError::Unreachable { .. }));
    }

    #[test]
    fn rejects_misplaced_and_bad_gateway_fields() {
        for (gw, field) in [
            ("{exposure: LoadBalancer, port: 1}", "port"),
            (
                "{exposure: Static, addresses: [1.2.3.4], nodePort: 31000}",
                "nodePort",
            ),
            (
                "{exposure: NodePort, nodeSelector: {a: b}, addresses: [1.2.3.4]}",
                "addresses",
            ),
            (
                "{exposure: NodePort, nodeSelector: {a: b}, nodePort: 80}",
                "nodePort",
            ),
            (
                "{exposure: Static, addresses: ['not an address']}",
                "addresses[0]",
            ),
            (
                "{exposure: Static, addresses: [1.2.3.4, 1.2.3.4]}",
                "addresses[1]",
            ),
            ("{exposure: Ingress}", "exposure"),
            ("{exposure: Static, addresses: [1.2.3.4], port: 0}", "port"),
            (
                "{exposure: Static, addresses: [1.2.3.4], port: 70000}",
                "port",
            ),
        ] {
            let e = parse(&format!(
                "meshID: m\nmembers:\n- name: a\n  network: n\n  eastWestGateway: {gw}\n"
            ))
            .unwrap_err();
            assert_eq!(
                e.field(),
                Some(format!("members[0].eastWestGateway.{field}").as_str()),
                "{gw}: {e}"
            );
        }
    }

    #[test]
    fn mcs_cluster_local_is_an_opt_in() {
        let cs = parse("meshID: m\nmembers:\n- name: a\n  network: n\n").unwrap();
        assert!(!cs.mcs_cluster_local);
        let cs =
            parse("meshID: m\nmcsClusterLocal: true\nmembers:\n- name: a\n  network: n\n").unwrap();
        assert!(cs.mcs_cluster_local);
        let e = parse("meshID: m\nmcsClusterLocal: sometimes\nmembers:\n- name: a\n  network: n\n")
            .unwrap_err();
        assert_eq!(e.field(), Some("mcsClusterLocal"), "{e}");
    }

    #[test]
    fn static_addresses_are_checked_as_istiod_checks_gateway_addresses() {
        // istiod (`validateNetwork`) refuses a DNS name whose last label is all digits, and
        // then ignores the whole mesh networks: refused at the input.
        let e = parse("meshID: m\nmembers:\n- name: a\n  network: n\n  eastWestGateway: {exposure: Static, addresses: [192.0.2.1, gw.123]}\n")
            .unwrap_err();
        assert_eq!(
            e.field(),
            Some("members[0].eastWestGateway.addresses[1]"),
            "{e}"
        );
        assert!(e.to_string().contains("\"gw.123\""), "{e}");
        for ok in ["gw.example.com.", "2001:db8::1", "GW.example.com"] {
            parse(&format!(
                "meshID: m\nmembers:\n- name: a\n  network: n\n  eastWestGateway: {{exposure: Static, addresses: ['{ok}']}}\n"
            ))
            .unwrap();
        }
    }

    #[test]
    fn a_static_address_and_port_belong_to_one_network() {
        let two = |gw_b: &str, net_b: &str| {
            parse(&format!(
                "meshID: m\nmembers:\n- name: a\n  network: n1\n  eastWestGateway: {{exposure: Static, addresses: [192.0.2.1]}}\n- name: b\n  network: {net_b}\n  eastWestGateway: {gw_b}\n"
            ))
        };
        let e = two("{exposure: Static, addresses: [192.0.2.1]}", "n2").unwrap_err();
        assert_eq!(
            e.field(),
            Some("members[1].eastWestGateway.addresses[0]"),
            "{e}"
        );
        assert!(e.to_string().contains("\"n1\""), "{e}");
        // The same explicit port as the default is the same gateway.
        assert!(
            two(
                "{exposure: Static, addresses: [192.0.2.1], port: 15443}",
                "n2"
            )
            .is_err()
        );
        // Another port on the same address, or the same gateway for one network, is fine.
        two(
            "{exposure: Static, addresses: [192.0.2.1], port: 15444}",
            "n2",
        )
        .unwrap();
        two("{exposure: Static, addresses: [192.0.2.1]}", "n1").unwrap();
    }

    #[test]
    fn rejects_bad_header_and_syntax() {
        assert!(
            err("apiVersion: v1\nmeshID: m\nmembers:\n- name: a\n  network: n\n")
                .contains("apiVersion")
        );
        assert!(
            err("kind: Cluster\nmeshID: m\nmembers:\n- name: a\n  network: n\n").contains("kind")
        );
        let e = parse("meshID: \"unterminated\n").unwrap_err();
        assert!(matches!(e, ClusterSetError::Syntax { .. }), "{e:?}");
        assert!(err("- a\n- b\n").contains("mapping"));
        assert!(
            err("meshID: m\nmembers:\n- name: a\n  network: n\n  labels: {'Bad Key': x}\n")
                .contains("members[0].labels")
        );
    }

    #[test]
    fn load_reports_unreadable_file() {
        let e = ClusterSet::load(Path::new("/nonexistent/clusterset.yaml")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/clusterset.yaml: cannot read"),
            "{e}"
        );
    }
}
