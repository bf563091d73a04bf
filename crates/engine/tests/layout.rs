//! The engine's layout, checked: its modules depend on each other in layers
//! (no import circle), every `impl Engine` block is under `src/engine/` (the
//! facade, in one place), and no source file of the workspace grows past 600
//! lines before its tests.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A file's text before its `#[cfg(test)]` part.
fn before_tests(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
}

/// The names `crate::NAME` refers to in `text`, including `use crate::{a, b::c}`.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = ident(part.trim());
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// The engine's top-level modules (a file `src/x.rs` and everything under
/// `src/x/` are module `x`) and the other top-level modules each names.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let module_of = |p: &Path| -> Option<String> {
        let rel = p.strip_prefix(src).ok()?;
        let first = rel.components().next()?.as_os_str().to_str()?;
        let name = first.trim_end_matches(".rs").to_string();
        (name != "lib").then_some(name)
    };
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        if let Some(m) = module_of(f) {
            graph.entry(m).or_default();
        }
    }
    let names: BTreeSet<String> = graph.keys().cloned().collect();
    for f in &files {
        let Some(m) = module_of(f) else { continue };
        let text = fs::read_to_string(f).expect("a source file of the engine");
        let deps: Vec<String> = crate_refs(before_tests(&text))
            .into_iter()
            .filter(|d| d != &m && names.contains(d))
            .collect();
        graph.entry(m).or_default().extend(deps);
    }
    graph
}

/// A circle in `graph`, as the path that closes it, if there is one.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut circle = path[i..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in &graph[node] {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

fn engine_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn the_engine_modules_form_layers_without_a_circle() {
    let graph = module_graph(&engine_src());
    assert!(
        graph.len() > 20,
        "the engine's modules were not found: {graph:?}"
    );
    assert!(
        graph["engine"].contains("runtime") && graph["engine"].contains("store"),
        "the facade's dependencies were not read: {:?}",
        graph["engine"]
    );
    if let Some(circle) = find_circle(&graph) {
        panic!(
            "modules import each other in a circle: {}",
            circle.join(" -> ")
        );
    }
}

#[test]
fn the_circle_finder_finds_a_circle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let edge = |g: &mut BTreeMap<String, BTreeSet<String>>, a: &str, b: &str| {
        g.entry(a.into()).or_default().insert(b.into());
        g.entry(b.into()).or_default();
    };
    edge(&mut g, "engine", "runtime");
    edge(&mut g, "runtime", "pm");
    assert_eq!(find_circle(&g), None);
    edge(&mut g, "pm", "engine");
    assert_eq!(
        find_circle(&g).map(|c| c.join(" -> ")),
        Some("engine -> runtime -> pm -> engine".to_string())
    );
    assert_eq!(
        crate_refs("use crate::{a, b::c};\nlet x = crate::d::e(); // crate::f"),
        ["a", "b", "d", "f"].iter().map(|s| s.to_string()).collect()
    );
}

#[test]
fn every_impl_engine_block_is_part_of_the_facade() {
    let src = engine_src();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let outside: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(src.join("engine")) && !f.ends_with("engine.rs"))
        .filter(|f| {
            let text = fs::read_to_string(f).unwrap();
            before_tests(&text).lines().any(|l| {
                l.starts_with("impl Engine ") || l.starts_with("impl crate::engine::Engine ")
            })
        })
        .map(|f| f.strip_prefix(&src).unwrap().display().to_string())
        .collect();
    assert!(
        outside.is_empty(),
        "impl Engine outside src/engine/: {outside:?}"
    );
}

#[test]
fn no_source_file_is_over_600_lines_before_its_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["crates", "src-tauri/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| f.components().any(|c| c.as_os_str() == "src"))
        .collect();
    assert!(files.len() > 50, "the workspace's sources were not found");
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let text = fs::read_to_string(f).unwrap();
            let n = before_tests(&text).lines().count();
            (n > 600).then(|| format!("{} ({n} lines)", f.strip_prefix(&root).unwrap().display()))
        })
        .collect();
    assert!(long.is_empty(), "over 600 lines before the tests: {long:?}");
}
