//! The reader RBAC equals what Istio's charts render, for every supported Istio version.
//!
//! `testdata/istio-reader/<release>/` holds Istio's templates verbatim (source table in its
//! README). They are rendered here with the charts' default values by a small evaluator of the
//! few Go template constructs they use (`if`/`range`/`end`, `:=`, `or`/`and`/`not`/`eq`/`dig`,
//! fields, `include ... | nindent`), then compared as whole documents with
//! `reader_rbac_for`. Two labels are left out of the comparison on purpose: `release`
//! (the Helm release name, which depends on how Istio was installed) and the chart's
//! bookkeeping labels from `istio.labels` (rendered empty here).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use gateway_config::remote_secret::{IstioVersion, reader_rbac_for};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

/// The vendored release of each supported minor version.
fn release_dir(v: IstioVersion) -> PathBuf {
    let release = match v {
        IstioVersion::V1_28 => "1.28.10",
        IstioVersion::V1_29 => "1.29.6",
        IstioVersion::V1_30 => "1.30.3",
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/istio-reader")
        .join(release)
}

fn template(v: IstioVersion, file: &str) -> String {
    let path = release_dir(v).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---- a minimal Go text/template evaluator -------------------------------------------------

enum Piece {
    Text(String),
    Action(String),
}

/// Splits a template into text and actions, applying the `{{- ` and ` -}}` trim markers.
fn lex(src: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = rest[..start].to_owned();
        if trim_next {
            text = text.trim_start().to_owned();
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").expect("unclosed action");
        let mut action = &after[..end];
        if let Some(a) = action.strip_prefix("- ") {
            text = text.trim_end().to_owned();
            action = a;
        }
        trim_next = false;
        if let Some(a) = action.strip_suffix(" -") {
            trim_next = true;
            action = a;
        }
        out.push(Piece::Text(text));
        out.push(Piece::Action(action.trim().to_owned()));
        rest = &after[end + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    out.push(Piece::Text(text.to_owned()));
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Pipe,
    Str(String),
    Word(String),
}

fn tokens(expr: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut chars = expr.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' => {
                chars.next();
            }
            '(' | ')' | '|' => {
                chars.next();
                out.push(match c {
                    '(' => Tok::Open,
                    ')' => Tok::Close,
                    _ => Tok::Pipe,
                });
            }
            '"' => {
                chars.next();
                let s: String = chars.by_ref().take_while(|&c| c != '"').collect();
                out.push(Tok::Str(s));
            }
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if matches!(c, ' ' | '\t' | '(' | ')' | '|') {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push(Tok::Word(w));
            }
        }
    }
    out
}

struct Eval<'a> {
    root: &'a Value,
    vars: BTreeMap<String, Value>,
    includes: &'a BTreeMap<&'a str, &'a str>,
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

impl Eval<'_> {
    fn field(&self, path: &str) -> Value {
        let mut cur = self.root;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            match cur.get(part) {
                Some(v) => cur = v,
                None => return Value::Null,
            }
        }
        cur.clone()
    }

    /// pipeline := command ('|' command)*, the value of each command passed as the last
    /// argument of the next.
    fn pipeline(&self, toks: &[Tok], pos: &mut usize) -> Value {
        let mut value = self.command(toks, pos, None);
        while toks.get(*pos) == Some(&Tok::Pipe) {
            *pos += 1;
            value = self.command(toks, pos, Some(value));
        }
        value
    }

    fn command(&self, toks: &[Tok], pos: &mut usize, piped: Option<Value>) -> Value {
        let mut args = Vec::new();
        let func = match toks.get(*pos) {
            Some(Tok::Word(w))
                if !w.starts_with('.')
                    && !w.starts_with('$')
                    && !matches!(w.as_str(), "true" | "false")
                    && !w.chars().all(|c| c.is_ascii_digit()) =>
            {
                *pos += 1;
                Some(w.clone())
            }
            _ => None,
        };
        while let Some(t) = toks.get(*pos) {
            match t {
                Tok::Close | Tok::Pipe => break,
                _ => args.push(self.operand(toks, pos)),
            }
        }
        args.extend(piped);
        match func {
            None => {
                assert_eq!(args.len(), 1, "a value, not a call: {toks:?}");
                args.remove(0)
            }
            Some(f) => call(&f, args, self.includes),
        }
    }

    fn operand(&self, toks: &[Tok], pos: &mut usize) -> Value {
        let t = toks[*pos].clone();
        *pos += 1;
        match t {
            Tok::Open => {
                let v = self.pipeline(toks, pos);
                assert_eq!(toks.get(*pos), Some(&Tok::Close), "unbalanced: {toks:?}");
                *pos += 1;
                v
            }
            Tok::Str(s) => json!(s),
            Tok::Word(w) if w == "true" || w == "false" => json!(w == "true"),
            Tok::Word(w) if w.chars().all(|c| c.is_ascii_digit()) => {
                json!(w.parse::<u64>().unwrap())
            }
            Tok::Word(w) if w.starts_with('$') => self.vars.get(&w).cloned().expect(&w),
            Tok::Word(w) if w.starts_with('.') => self.field(&w),
            other => panic!("unexpected {other:?} in {toks:?}"),
        }
    }

    fn expr(&self, expr: &str) -> Value {
        let toks = tokens(expr);
        let mut pos = 0;
        let v = self.pipeline(&toks, &mut pos);
        assert_eq!(pos, toks.len(), "trailing tokens in {expr:?}");
        v
    }
}

fn call(f: &str, args: Vec<Value>, includes: &BTreeMap<&str, &str>) -> Value {
    match f {
        "or" => args
            .iter()
            .find(|a| truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        "and" => args
            .iter()
            .find(|a| !truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        "not" => json!(!truthy(&args[0])),
        "eq" => json!(args[0] == args[1]),
        // dig "k1" "k2" ... default dict
        "dig" => {
            let (dict, rest) = args.split_last().unwrap();
            let (default, keys) = rest.split_last().unwrap();
            let mut cur = dict;
            for k in keys {
                match cur.get(k.as_str().unwrap()) {
                    Some(v) => cur = v,
                    None => return default.clone(),
                }
            }
            cur.clone()
        }
        "include" => json!(includes[args[0].as_str().unwrap()]),
        "nindent" => {
            let n = usize::try_from(args[0].as_u64().unwrap()).unwrap();
            let pad = " ".repeat(n);
            let text = args[1].as_str().unwrap();
            let lines: Vec<String> = text.split('\n').map(|l| format!("{pad}{l}")).collect();
            json!(format!("\n{}", lines.join("\n")))
        }
        other => panic!("function {other} is not modelled"),
    }
}

/// Renders `src` with `root` as `.` (`{"Values": ..., "Release": ...}`).
fn render(src: &str, root: &Value) -> String {
    let includes = BTreeMap::from([("istio.labels", "")]);
    let mut ev = Eval {
        root,
        vars: BTreeMap::new(),
        includes: &includes,
    };
    let mut out = String::new();
    // One entry per open block: whether its body is rendered.
    let mut blocks: Vec<bool> = Vec::new();
    for piece in lex(src) {
        let active = blocks.iter().all(|b| *b);
        match piece {
            Piece::Text(t) => {
                if active {
                    out.push_str(&t);
                }
            }
            Piece::Action(a) => {
                if a == "end" {
                    blocks.pop().expect("end without a block");
                } else if let Some(cond) = a.strip_prefix("if ") {
                    blocks.push(active && truthy(&ev.expr(cond)));
                } else if let Some(list) = a.strip_prefix("range ") {
                    assert!(
                        !active || !truthy(&ev.expr(list)),
                        "range over a non-empty list is not modelled"
                    );
                    blocks.push(false);
                } else if !active {
                } else if let Some((var, e)) = a.split_once(":=") {
                    let v = ev.expr(e);
                    ev.vars.insert(var.trim().to_owned(), v);
                } else {
                    match ev.expr(&a) {
                        Value::String(s) => out.push_str(&s),
                        other => out.push_str(&other.to_string()),
                    }
                }
            }
        }
    }
    assert!(blocks.is_empty(), "unclosed blocks");
    out
}

/// The charts' default values, with `revision`.
fn defaults(revision: &str) -> Value {
    json!({
        "Values": {
            "global": {
                "resourceScope": "all",
                "enableReaderRBAC": true,
                "istioNamespace": "istio-system",
                "imagePullSecrets": [],
            },
            "revision": revision,
            "env": {},
            "istiodRemote": {"enabled": false},
        },
        "Release": {"Name": "istiod", "Namespace": "istio-system"},
    })
}

/// The documents of a rendered template; the `release` label removed.
fn documents(text: &str) -> Vec<Value> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    docs.into_iter()
        .filter(|d| !d.is_null())
        .map(|mut d| {
            if let Some(labels) = d
                .pointer_mut("/metadata/labels")
                .and_then(Value::as_object_mut)
            {
                assert_eq!(labels.remove("release"), Some(json!("istiod")));
            }
            d
        })
        .collect()
}

fn rendered(v: IstioVersion, file: &str, root: &Value) -> Vec<Value> {
    documents(&render(&template(v, file), root))
}

// ---- the comparison ------------------------------------------------------------------------

#[test]
fn generated_reader_rbac_equals_the_charts_for_every_version_and_revision() {
    for v in IstioVersion::SUPPORTED {
        for revision in ["", "canary"] {
            let root = defaults(revision);
            let ours = reader_rbac_for(v, Some(revision).filter(|r| !r.is_empty()));
            let what = format!("Istio {v}, revision {revision:?}");
            assert_eq!(
                rendered(v, "reader-clusterrole.yaml", &root),
                vec![serde_json::to_value(&ours.cluster_role).unwrap()],
                "{what}: ClusterRole"
            );
            assert_eq!(
                rendered(v, "reader-clusterrolebinding.yaml", &root),
                vec![serde_json::to_value(&ours.cluster_role_binding).unwrap()],
                "{what}: ClusterRoleBinding"
            );
            assert_eq!(
                rendered(v, "reader-serviceaccount.yaml", &root),
                vec![serde_json::to_value(&ours.service_account).unwrap()],
                "{what}: ServiceAccount"
            );
        }
    }
}

#[test]
fn the_versions_differ_as_the_templates_do() {
    // 1.28 differs from 1.29 in the rules; 1.29 and 1.30 render the same objects.
    let role = |v| rendered(v, "reader-clusterrole.yaml", &defaults(""));
    assert_ne!(role(IstioVersion::V1_28), role(IstioVersion::V1_29));
    assert_eq!(role(IstioVersion::V1_29), role(IstioVersion::V1_30));
    let core = |v| {
        role(v)[0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["apiGroups"] == json!([""]))
            .unwrap()["resources"]
            .clone()
    };
    assert!(
        !core(IstioVersion::V1_28)
            .as_array()
            .unwrap()
            .contains(&json!("configmaps"))
    );
    assert!(
        core(IstioVersion::V1_29)
            .as_array()
            .unwrap()
            .contains(&json!("configmaps"))
    );
}

#[test]
fn the_evaluator_follows_the_template_conditions() {
    // Guards against a vacuous comparison: values other than the defaults change the output
    // the way the templates say.
    let v = IstioVersion::V1_30;
    let mut root = defaults("");
    root["Values"]["global"]["resourceScope"] = json!("namespace");
    assert!(rendered(v, "reader-clusterrole.yaml", &root).is_empty());
    assert_eq!(rendered(v, "reader-serviceaccount.yaml", &root).len(), 1);
    root["Values"]["global"]["resourceScope"] = json!("cluster");
    assert!(rendered(v, "reader-serviceaccount.yaml", &root).is_empty());
    assert_eq!(
        rendered(v, "reader-clusterrolebinding.yaml", &root).len(),
        1
    );

    // enableReaderRBAC exists from 1.30 on; absent, it defaults to true.
    let mut off = defaults("");
    off["Values"]["global"]["enableReaderRBAC"] = json!(false);
    assert!(rendered(IstioVersion::V1_30, "reader-clusterrole.yaml", &off).is_empty());
    assert_eq!(
        rendered(IstioVersion::V1_29, "reader-clusterrole.yaml", &off).len(),
        1
    );
    let mut absent = defaults("");
    if let Some(g) = absent["Values"]["global"].as_object_mut() {
        g.remove("enableReaderRBAC");
    }
    assert_eq!(
        rendered(v, "reader-clusterrole.yaml", &absent),
        rendered(v, "reader-clusterrole.yaml", &defaults(""))
    );

    // The MCS group and the remote-istiod rules.
    let mut other = defaults("");
    other["Values"]["env"]["MCS_API_GROUP"] = json!("mcs.example.io");
    other["Values"]["istiodRemote"]["enabled"] = json!(true);
    let role = &rendered(v, "reader-clusterrole.yaml", &other)[0];
    let rules = role["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 14);
    assert_eq!(
        rules
            .iter()
            .filter(|r| r["apiGroups"] == json!(["mcs.example.io"]))
            .count(),
        2
    );
    assert_eq!(
        rendered(v, "reader-clusterrole.yaml", &defaults(""))[0]["rules"]
            .as_array()
            .unwrap()
            .len(),
        11
    );
}
