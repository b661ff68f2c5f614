//! The modules under `src/` form a one-way graph (spec → jobs → train → store → report): no
//! module reaches back into one that depends on it. Read from the source text, so a new `use`
//! that closes a cycle fails here with the cycle named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the other top-level modules its non-test code names as `crate::x`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in walk(&src) {
        let rel = entry.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "main" || module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&entry).unwrap();
        // Unit tests may use anything; only the shipped code is judged.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let named = deps.entry(module.clone()).or_default();
        for name in crate_paths(code) {
            if name != module {
                named.insert(name);
            }
        }
    }
    let modules: BTreeSet<String> = deps.keys().cloned().collect();
    for targets in deps.values_mut() {
        targets.retain(|t| modules.contains(t));
    }
    deps
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// Names after `crate::`, including each name of a `crate::{a, b::c}` group.
fn crate_paths(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for part in inner.split(',') {
                names.push(ident(part.trim()));
            }
        } else {
            names.push(ident(rest));
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// A cycle through `start`, if any, as the list of modules along it.
fn cycle_from(
    graph: &BTreeMap<String, BTreeSet<String>>,
    start: &str,
    at: &str,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    for next in &graph[at] {
        if next == start {
            let mut cycle = path.clone();
            cycle.push(start.to_string());
            return Some(cycle);
        }
        if !path.contains(next) {
            path.push(next.clone());
            if let Some(c) = cycle_from(graph, start, next, path) {
                return Some(c);
            }
            path.pop();
        }
    }
    None
}

#[test]
fn modules_depend_one_way() {
    let graph = graph();
    assert!(graph.len() > 10, "the scan found the modules: {graph:?}");
    for module in graph.keys() {
        let mut path = vec![module.clone()];
        if let Some(cycle) = cycle_from(&graph, module, module, &mut path) {
            let listing: Vec<String> = graph
                .iter()
                .map(|(m, d)| {
                    format!(
                        "{m} -> {}",
                        d.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                })
                .collect();
            panic!(
                "module cycle: {}\n\nthe module graph:\n{}",
                cycle.join(" -> "),
                listing.join("\n")
            );
        }
    }
}

#[test]
fn drawing_primitives_know_nothing_of_reports_or_sweeps() {
    let graph = graph();
    for high in ["export", "sweep", "store", "cli", "forecast"] {
        assert!(
            !graph["plot"].contains(high),
            "plot uses {high}: {:?}",
            graph["plot"]
        );
    }
}

#[test]
fn the_scanner_reads_groups_and_paths() {
    let names = crate_paths("use crate::{a, b::c};\nlet x = crate::d::e(); // crate::f");
    assert_eq!(names, ["a", "b", "d", "f"]);
}
