//! The workspace keeps the shape `docs/architecture.md` describes:
//! - the daemons link only what they run: `mesh-controller` depends (transitively, through
//!   workspace crates) on neither the simulator, the DNS server nor the CLI; `dns-proxy` on
//!   neither the controller, the simulator nor the CLI;
//! - modules import each other without cycles, at every level of every crate;
//! - the module map in `docs/architecture.md` names every top-level module of every crate.
//!
//! Imports are read from the source text (`crate::a::b`, `super::b`, `use` groups), which is
//! how the rule is stated: a module may not name, directly or around a cycle, one that names it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// (package name, directory) of every workspace member.
fn members() -> Vec<(String, PathBuf)> {
    let ws = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let list = ws
        .split("members = [")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .unwrap();
    list.split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .map(|m| {
            let dir = repo().join(m);
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            let name = manifest
                .lines()
                .find_map(|l| l.strip_prefix("name = "))
                .unwrap()
                .trim_matches('"')
                .to_owned();
            (name, dir)
        })
        .collect()
}

/// Workspace packages a package depends on in `[dependencies]` (not dev or build).
fn normal_workspace_deps(dir: &Path, names: &BTreeSet<String>) -> BTreeSet<String> {
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let mut out = BTreeSet::new();
    let mut in_deps = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if !in_deps {
            continue;
        }
        let key = line.split(['=', '.', ' ']).next().unwrap_or("");
        if names.contains(key) {
            out.insert(key.to_owned());
        }
    }
    out
}

fn closure(start: &str, edges: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![start.to_owned()];
    while let Some(n) = todo.pop() {
        for d in edges.get(&n).into_iter().flatten() {
            if seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    seen
}

#[test]
fn daemons_link_only_what_they_run() {
    let members = members();
    let names: BTreeSet<String> = members.iter().map(|(n, _)| n.clone()).collect();
    let edges: BTreeMap<String, BTreeSet<String>> = members
        .iter()
        .map(|(n, d)| (n.clone(), normal_workspace_deps(d, &names)))
        .collect();
    let controller = closure("mesh-controller", &edges);
    for banned in [
        "kube-sim",
        "dns-proxy",
        "isthmus",
        "isthmus-install",
        "isthmus-tests",
    ] {
        assert!(
            !controller.contains(banned),
            "mesh-controller links {banned}: {controller:?}"
        );
    }
    let proxy = closure("dns-proxy", &edges);
    for banned in [
        "kube-sim",
        "mesh-controller",
        "gateway-config",
        "isthmus",
        "isthmus-install",
        "isthmus-placement",
        "isthmus-testing",
    ] {
        assert!(
            !proxy.contains(banned),
            "dns-proxy links {banned}: {proxy:?}"
        );
    }
    // Libraries below the daemons stay below them.
    for lib in [
        "isthmus-api",
        "mesh-proto",
        "gateway-config",
        "isthmus-placement",
    ] {
        let deps = closure(lib, &edges);
        for banned in ["mesh-controller", "dns-proxy", "isthmus", "kube-sim"] {
            assert!(!deps.contains(banned), "{lib} links {banned}: {deps:?}");
        }
    }
}

/// A module tree: every module path (`a`, `a::b`) and the file(s) it is defined in.
struct Crate {
    /// Module path -> its source files (a directory module: `mod.rs`; a file module: itself).
    modules: BTreeMap<Vec<String>, Vec<PathBuf>>,
}

fn module_tree(src: &Path) -> Crate {
    let mut modules: BTreeMap<Vec<String>, Vec<PathBuf>> = BTreeMap::new();
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<Vec<String>, Vec<PathBuf>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let name = p.file_stem().unwrap().to_string_lossy().to_string();
            if p.is_dir() {
                if prefix.is_empty() && name == "bin" {
                    continue;
                }
                let mut path = prefix.to_vec();
                path.push(name);
                walk(&p, &path, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let path = match name.as_str() {
                    "mod" | "lib" | "main" => prefix.to_vec(),
                    _ => {
                        let mut v = prefix.to_vec();
                        v.push(name);
                        v
                    }
                };
                out.entry(path).or_default().push(p);
            }
        }
    }
    walk(src, &[], &mut modules);
    Crate { modules }
}

/// The code of a file without comments and string literals (so doc text is not read as an
/// import), and without `#[cfg(test)]` modules (test modules may import their parent).
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut in_str = false;
        let mut prev = ' ';
        for c in line.chars() {
            if c == '"' && prev != '\\' && prev != '\'' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// Module paths a file names: `crate::a::b...` and `super::...` (resolved against `here`),
/// including the first segment of each item in a `crate::{a, b::c}` group.
fn references(code: &str, here: &[String]) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> Vec<String> {
        s.split("::")
            .map(|p| {
                p.trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|p| !p.is_empty())
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        if i > 0 {
            let before = code[..i].chars().last().unwrap_or(' ');
            if before.is_alphanumeric() || before == '_' || before == ':' {
                continue;
            }
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for item in inner.split(',') {
                let path = ident(item);
                if !path.is_empty() {
                    out.insert(path);
                }
            }
        } else {
            let path = ident(rest);
            if !path.is_empty() {
                out.insert(path);
            }
        }
    }
    // `super::` from a file module `a::b` (b.rs) means `a`; from a directory module `a::b`
    // (b/mod.rs) it also means `a`.
    let parent: Vec<String> = here[..here.len().saturating_sub(1)].to_vec();
    for (i, _) in code.match_indices("super::") {
        if i > 0 {
            let before = code[..i].chars().last().unwrap_or(' ');
            if before == ':' {
                continue;
            }
        }
        let rest = &code[i + "super::".len()..];
        let items: Vec<Vec<String>> = if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            inner.split(',').map(ident).collect()
        } else {
            vec![ident(rest)]
        };
        for item in items {
            if item.is_empty() {
                continue;
            }
            let mut p = parent.clone();
            p.extend(item);
            out.insert(p);
        }
    }
    out
}

/// Edges between sibling modules: for every module `m` with children, which child names
/// which other child (a reference from anywhere inside child `a` to anything inside child `b`).
fn sibling_edges(krate: &Crate) -> BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> {
    let mut out: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (path, files) in &krate.modules {
        for file in files {
            let code = code_of(&std::fs::read_to_string(file).unwrap());
            for target in references(&code, path) {
                // The longest common prefix: the parent at which the two diverge.
                let common = path.iter().zip(&target).take_while(|(a, b)| a == b).count();
                if common >= path.len() || common >= target.len() {
                    continue; // a module naming its own descendant or ancestor
                }
                let parent = path[..common].to_vec();
                let from = path[common].clone();
                let to = target[common].clone();
                // Only real modules count (not items of the parent module).
                let mut child = parent.clone();
                child.push(to.clone());
                if !krate.modules.contains_key(&child) {
                    continue;
                }
                out.entry(parent)
                    .or_default()
                    .entry(from)
                    .or_default()
                    .insert(to);
            }
        }
    }
    out
}

fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn dfs(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_owned(), 1);
        stack.push(n.to_owned());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = dfs(m, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = dfs(n, edges, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn modules_import_each_other_without_cycles() {
    let mut cycles = Vec::new();
    for (name, dir) in members() {
        let krate = module_tree(&dir.join("src"));
        for (parent, edges) in sibling_edges(&krate) {
            if let Some(cycle) = find_cycle(&edges) {
                let at = if parent.is_empty() {
                    "crate".to_owned()
                } else {
                    parent.join("::")
                };
                cycles.push(format!("{name} ({at}): {}", cycle.join(" -> ")));
            }
        }
    }
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_module_map_names_every_top_level_module() {
    let doc = std::fs::read_to_string(repo().join("docs/architecture.md")).unwrap();
    let map = doc
        .split("## Module map")
        .nth(1)
        .expect("docs/architecture.md has a \"## Module map\" section");
    let map = map.split("\n## ").next().unwrap_or(map);
    let mut missing = Vec::new();
    for (name, dir) in members() {
        let krate = module_tree(&dir.join("src"));
        let tops: BTreeSet<&String> = krate
            .modules
            .keys()
            .filter(|p| p.len() == 1)
            .map(|p| &p[0])
            .collect();
        if tops.is_empty() {
            continue;
        }
        let Some(line) = map
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
        else {
            missing.push(format!("{name}: no row"));
            continue;
        };
        for m in tops {
            if !line.contains(&format!("`{m}`")) {
                missing.push(format!("{name}: module `{m}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/architecture.md module map lacks:\n{}",
        missing.join("\n")
    );
}
