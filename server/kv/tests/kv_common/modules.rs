//! The module graph of d4-kv's library has no cycles: no module reaches itself through
//! `crate::` / `super::` paths, neither file by file nor between the top-level modules
//! (`protocol`, `keyspace`, `persistence`, `cmd`, `net`, ...). Test code is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

/// Every library module (file) under `src/`, by path, with its non-test source.
fn modules(dir: &Path, prefix: &[String], out: &mut BTreeMap<Module, String>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if path.is_dir() {
            modules(&path, &[prefix, &[name]].concat(), out);
            continue;
        }
        if name == "main" || path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let module = match name.as_str() {
            "mod" | "lib" => prefix.to_vec(),
            _ => [prefix, &[name]].concat(),
        };
        let text = std::fs::read_to_string(&path).expect("read module");
        let body = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .to_string();
        out.insert(module, body);
    }
}

/// The modules `body` (the source of `module`) refers to through `crate::` / `super::`.
fn deps(module: &Module, body: &str, all: &BTreeMap<Module, String>) -> BTreeSet<Module> {
    let code: String = body
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    for (i, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        let is_crate = code[i..].starts_with("crate::");
        // A path: identifiers joined by `::`, possibly ending in a `{a, b::c}` group.
        let rest = &code[i..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let mut path: Vec<String> = rest[..end]
            .split("::")
            .filter(|s| !s.is_empty())
            .skip(1)
            .map(str::to_string)
            .collect();
        let base: Module = if is_crate {
            vec![]
        } else {
            module[..module.len().saturating_sub(1)].to_vec()
        };
        let mut targets = vec![];
        if rest[end..].starts_with('{') {
            let group = &rest[end + 1..rest.find('}').unwrap_or(rest.len())];
            for item in group.split(',') {
                let first = item.trim().split("::").next().unwrap_or_default();
                if !first.is_empty() {
                    targets.push([&base[..], &path, &[first.to_string()]].concat());
                }
            }
        }
        if targets.is_empty() {
            path = [&base[..], &path].concat();
            targets.push(path);
        }
        for t in targets {
            let target = (0..=t.len())
                .rev()
                .map(|n| t[..n].to_vec())
                .find(|m| all.contains_key(m));
            if let Some(m) = target.filter(|m| m != module && !m.is_empty()) {
                found.insert(m);
            }
        }
    }
    found
}

/// A cycle in `graph`, if any, as the list of nodes along it.
fn find_cycle(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        n: &Module,
        g: &BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m) {
                Some(1) => {
                    let from = stack.iter().position(|x| x == m).unwrap_or(0);
                    return Some([&stack[from..], std::slice::from_ref(m)].concat());
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if !state.contains_key(n) {
            if let Some(c) = visit(n, graph, &mut state, &mut vec![]) {
                return Some(c);
            }
        }
    }
    None
}

fn show(cycle: &[Module]) -> String {
    cycle
        .iter()
        .map(|m| m.join("::"))
        .collect::<Vec<_>>()
        .join(" -> ")
}

#[test]
fn library_module_graph_has_no_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = BTreeMap::new();
    modules(&src, &[], &mut all);
    assert!(all.len() > 20, "found only {} modules", all.len());
    let files: BTreeMap<Module, BTreeSet<Module>> = all
        .iter()
        .map(|(m, body)| (m.clone(), deps(m, body, &all)))
        .collect();
    if let Some(c) = find_cycle(&files) {
        panic!("module cycle: {}", show(&c));
    }
    let mut top: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, ds) in &files {
        for d in ds {
            if let (Some(a), Some(b)) = (m.first(), d.first()) {
                if a != b {
                    top.entry(vec![a.clone()])
                        .or_default()
                        .insert(vec![b.clone()]);
                }
            }
        }
    }
    assert!(top.contains_key(&vec!["net".to_string()]), "{top:?}");
    if let Some(c) = find_cycle(&top) {
        panic!("top-level module cycle: {}", show(&c));
    }
}
