//! Decoding of the Kubernetes protobuf wire format for the few built-in kinds that `kubectl
//! create <kind>` sends as protobuf (Namespace, ConfigMap, Secret, ServiceAccount, RBAC roles
//! and bindings). Everything else is JSON; other protobuf bodies get 415.

use base64::Engine;
use serde_json::{Map, Value, json};

/// A protobuf body that could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// Not the `k8s\0` envelope or truncated data.
    #[error("malformed protobuf body: {0}")]
    Malformed(&'static str),
    /// A kind this server does not decode from protobuf.
    #[error("protobuf bodies are not supported for {0}; send JSON")]
    Unsupported(String),
}

#[derive(Clone, Copy)]
enum Ty {
    Str,
    Bool,
    Int,
    Time,
    Msg(&'static [Field]),
    RepStr,
    RepMsg(&'static [Field]),
    MapStr,
    MapBytes,
}

struct Field(u64, &'static str, Ty);

const OWNER_REF: &[Field] = &[
    Field(1, "kind", Ty::Str),
    Field(3, "name", Ty::Str),
    Field(4, "uid", Ty::Str),
    Field(5, "apiVersion", Ty::Str),
    Field(6, "controller", Ty::Bool),
    Field(7, "blockOwnerDeletion", Ty::Bool),
];
const META: &[Field] = &[
    Field(1, "name", Ty::Str),
    Field(2, "generateName", Ty::Str),
    Field(3, "namespace", Ty::Str),
    Field(5, "uid", Ty::Str),
    Field(6, "resourceVersion", Ty::Str),
    Field(7, "generation", Ty::Int),
    Field(8, "creationTimestamp", Ty::Time),
    Field(11, "labels", Ty::MapStr),
    Field(12, "annotations", Ty::MapStr),
    Field(13, "ownerReferences", Ty::RepMsg(OWNER_REF)),
    Field(14, "finalizers", Ty::RepStr),
];
const CONFIG_MAP: &[Field] = &[
    Field(1, "metadata", Ty::Msg(META)),
    Field(2, "data", Ty::MapStr),
    Field(3, "binaryData", Ty::MapBytes),
    Field(4, "immutable", Ty::Bool),
];
const SECRET: &[Field] = &[
    Field(1, "metadata", Ty::Msg(META)),
    Field(2, "data", Ty::MapBytes),
    Field(3, "type", Ty::Str),
    Field(4, "stringData", Ty::MapStr),
    Field(5, "immutable", Ty::Bool),
];
const NAMESPACE: &[Field] = &[
    Field(1, "metadata", Ty::Msg(META)),
    Field(2, "spec", Ty::Msg(&[Field(1, "finalizers", Ty::RepStr)])),
];
const OBJECT_REF: &[Field] = &[
    Field(1, "kind", Ty::Str),
    Field(2, "namespace", Ty::Str),
    Field(3, "name", Ty::Str),
    Field(4, "uid", Ty::Str),
    Field(5, "apiVersion", Ty::Str),
];
const SERVICE_ACCOUNT: &[Field] = &[
    Field(1, "metadata", Ty::Msg(META)),
    Field(2, "secrets", Ty::RepMsg(OBJECT_REF)),
    Field(
        3,
        "imagePullSecrets",
        Ty::RepMsg(&[Field(1, "name", Ty::Str)]),
    ),
    Field(4, "automountServiceAccountToken", Ty::Bool),
];
const POLICY_RULE: &[Field] = &[
    Field(1, "verbs", Ty::RepStr),
    Field(2, "apiGroups", Ty::RepStr),
    Field(3, "resources", Ty::RepStr),
    Field(4, "resourceNames", Ty::RepStr),
    Field(5, "nonResourceURLs", Ty::RepStr),
];
const ROLE: &[Field] = &[
    Field(1, "metadata", Ty::Msg(META)),
    Field(2, "rules", Ty::RepMsg(POLICY_RULE)),
];
const BINDING: &[Field] = &[
    Field(1, "metadata", Ty::Msg(META)),
    Field(
        2,
        "subjects",
        Ty::RepMsg(&[
            Field(1, "kind", Ty::Str),
            Field(2, "apiGroup", Ty::Str),
            Field(3, "name", Ty::Str),
            Field(4, "namespace", Ty::Str),
        ]),
    ),
    Field(
        3,
        "roleRef",
        Ty::Msg(&[
            Field(1, "apiGroup", Ty::Str),
            Field(2, "kind", Ty::Str),
            Field(3, "name", Ty::Str),
        ]),
    ),
];

fn schema_of(kind: &str) -> Option<&'static [Field]> {
    Some(match kind {
        "ConfigMap" => CONFIG_MAP,
        "Secret" => SECRET,
        "Namespace" => NAMESPACE,
        "ServiceAccount" => SERVICE_ACCOUNT,
        "Role" | "ClusterRole" => ROLE,
        "RoleBinding" | "ClusterRoleBinding" => BINDING,
        _ => return None,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or(ProtoError::Malformed("truncated varint"))?;
            self.pos += 1;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(ProtoError::Malformed("varint too long"))
    }

    /// Next (field number, value); fixed-width fields are skipped.
    fn next(&mut self) -> Result<Option<(u64, Wire<'a>)>, ProtoError> {
        loop {
            if self.pos >= self.buf.len() {
                return Ok(None);
            }
            let tag = self.varint()?;
            let (num, wire) = (tag >> 3, tag & 7);
            match wire {
                0 => return Ok(Some((num, Wire::Varint(self.varint()?)))),
                2 => {
                    let len = usize::try_from(self.varint()?)
                        .map_err(|_| ProtoError::Malformed("length"))?;
                    let end = self.pos.checked_add(len).filter(|e| *e <= self.buf.len());
                    let end = end.ok_or(ProtoError::Malformed("truncated field"))?;
                    let data = &self.buf[self.pos..end];
                    self.pos = end;
                    return Ok(Some((num, Wire::Bytes(data))));
                }
                1 => self.pos += 8,
                5 => self.pos += 4,
                _ => return Err(ProtoError::Malformed("unsupported wire type")),
            }
        }
    }
}

fn text(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

fn map_entry(b: &[u8], bytes_value: bool) -> Result<(String, Value), ProtoError> {
    let mut r = Reader::new(b);
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    while let Some((num, w)) = r.next()? {
        if let Wire::Bytes(d) = w {
            match num {
                1 => k = String::from_utf8_lossy(d).into_owned(),
                2 if bytes_value => v = json!(base64::engine::general_purpose::STANDARD.encode(d)),
                2 => v = text(d),
                _ => {}
            }
        }
    }
    Ok((k, v))
}

fn time(b: &[u8]) -> Result<Value, ProtoError> {
    let mut r = Reader::new(b);
    let mut secs = 0i64;
    while let Some((num, w)) = r.next()? {
        if let (1, Wire::Varint(v)) = (num, w) {
            secs = v as i64;
        }
    }
    Ok(jiff::Timestamp::from_second(secs)
        .map(|t| json!(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
        .unwrap_or(Value::Null))
}

fn message(b: &[u8], fields: &[Field]) -> Result<Value, ProtoError> {
    let mut out = Map::new();
    let mut r = Reader::new(b);
    while let Some((num, w)) = r.next()? {
        let Some(Field(_, name, ty)) = fields.iter().find(|f| f.0 == num) else {
            continue;
        };
        let name = (*name).to_string();
        match (ty, w) {
            // Empty strings are what JSON's omitempty leaves out.
            (Ty::Str, Wire::Bytes([])) => {}
            (Ty::Str, Wire::Bytes(d)) => {
                out.insert(name, text(d));
            }
            (Ty::Bool, Wire::Varint(v)) => {
                out.insert(name, json!(v != 0));
            }
            (Ty::Int, Wire::Varint(v)) => {
                out.insert(name, json!(v as i64));
            }
            (Ty::Time, Wire::Bytes(d)) => {
                out.insert(name, time(d)?);
            }
            (Ty::Msg(sub), Wire::Bytes(d)) => {
                out.insert(name, message(d, sub)?);
            }
            (Ty::RepStr, Wire::Bytes(d)) => {
                let list = out.entry(name).or_insert_with(|| json!([]));
                if let Value::Array(a) = list {
                    a.push(text(d));
                }
            }
            (Ty::RepMsg(sub), Wire::Bytes(d)) => {
                let item = message(d, sub)?;
                if let Value::Array(a) = out.entry(name).or_insert_with(|| json!([])) {
                    a.push(item);
                }
            }
            (Ty::MapStr | Ty::MapBytes, Wire::Bytes(d)) => {
                let (k, v) = map_entry(d, matches!(ty, Ty::MapBytes))?;
                if let Value::Object(m) = out.entry(name).or_insert_with(|| json!({})) {
                    m.insert(k, v);
                }
            }
            _ => return Err(ProtoError::Malformed("field has an unexpected wire type")),
        }
    }
    Ok(Value::Object(out))
}

/// Decodes a `application/vnd.kubernetes.protobuf` body (`k8s\0` + runtime.Unknown) into the
/// object's JSON form.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let inner = body
        .strip_prefix(b"k8s\0")
        .ok_or(ProtoError::Malformed("missing the k8s protobuf envelope"))?;
    let mut r = Reader::new(inner);
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while let Some((num, w)) = r.next()? {
        match (num, w) {
            (1, Wire::Bytes(tm)) => {
                let mut t = Reader::new(tm);
                while let Some((n, w)) = t.next()? {
                    match (n, w) {
                        (1, Wire::Bytes(d)) => {
                            api_version = String::from_utf8_lossy(d).into_owned()
                        }
                        (2, Wire::Bytes(d)) => kind = String::from_utf8_lossy(d).into_owned(),
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(d)) => raw = d,
            _ => {}
        }
    }
    let schema =
        schema_of(&kind).ok_or_else(|| ProtoError::Unsupported(format!("kind {kind:?}")))?;
    let mut obj = message(raw, schema)?;
    if let Value::Object(m) = &mut obj {
        m.insert("apiVersion".into(), json!(api_version));
        m.insert("kind".into(), json!(kind));
    }
    Ok(obj)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn field(num: u8, data: &[u8]) -> Vec<u8> {
        let mut v = vec![(num << 3) | 2, u8::try_from(data.len()).unwrap()];
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn decodes_a_config_map() {
        let mut meta = field(1, b"demo");
        meta.extend(field(3, b"default"));
        meta.extend(field(11, &[field(1, b"app"), field(2, b"web")].concat()));
        let mut cm = field(1, &meta);
        cm.extend(field(2, &[field(1, b"k"), field(2, b"v")].concat()));
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let mut body = b"k8s\0".to_vec();
        body.extend(field(1, &type_meta));
        body.extend(field(2, &cm));
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"metadata": {"name": "demo", "namespace": "default", "labels": {"app": "web"}},
                   "data": {"k": "v"}, "apiVersion": "v1", "kind": "ConfigMap"})
        );
    }

    #[test]
    fn rejects_garbage_and_unknown_kinds() {
        assert!(decode(b"nope").is_err());
        assert!(decode(b"k8s\0\x0a\xff").is_err());
        let type_meta = [field(1, b"apps/v1"), field(2, b"Deployment")].concat();
        let mut body = b"k8s\0".to_vec();
        body.extend(field(1, &type_meta));
        assert!(matches!(decode(&body), Err(ProtoError::Unsupported(_))));
    }
}
