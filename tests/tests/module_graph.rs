//! Guard for the layout rule "no import cycles between modules": for every crate of the
//! workspace, builds the graph of which module uses which (from `use` statements and
//! inline `crate::`/`super::` paths) and fails on any cycle, printing it.
//!
//! A module's `mod` declarations are not edges, nor are `pub use` re-exports (a parent
//! presenting a child's items is interface, not dependency). Everything else is: a
//! child that uses its parent's items while the parent uses the child's is a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use d4_testkit::workspace_root;

/// Source folders of the workspace's crates.
const CRATES: &[&str] = &[
    "server/proto/src",
    "server/kv/src",
    "server/core/src",
    "server/ingest/src",
    "server/workers/src",
    "analyzer/src",
    "sensor/src",
    "web/src",
    "tests/src",
];

/// A module path inside one target, e.g. `["queues", "admin"]`; the root is empty.
type ModPath = Vec<String>;

/// One compilation root (lib.rs, main.rs or a file under src/bin) and its modules.
struct Target {
    root: PathBuf,
    modules: BTreeMap<ModPath, PathBuf>,
}

/// The module tree reachable from `root` through `mod x;` declarations.
fn target(root: &Path) -> Target {
    let mut modules = BTreeMap::new();
    walk(root, Vec::new(), &mut modules);
    Target {
        root: root.to_path_buf(),
        modules,
    }
}

fn walk(file: &Path, path: ModPath, out: &mut BTreeMap<ModPath, PathBuf>) {
    let Ok(text) = std::fs::read_to_string(file) else {
        return;
    };
    out.insert(path.clone(), file.to_path_buf());
    let dir = child_dir(file, path.is_empty());
    for name in declared_modules(&text) {
        let candidates = [
            dir.join(format!("{name}.rs")),
            dir.join(&name).join("mod.rs"),
        ];
        if let Some(f) = candidates.iter().find(|c| c.is_file()) {
            let mut p = path.clone();
            p.push(name);
            walk(f, p, out);
        }
    }
}

/// Where the files of `file`'s child modules live.
fn child_dir(file: &Path, is_root: bool) -> PathBuf {
    let parent = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if is_root || stem == "mod" {
        parent
    } else {
        parent.join(stem)
    }
}

/// `mod x;` declarations (not inline `mod x { ... }` blocks, which live in the same file).
fn declared_modules(text: &str) -> Vec<String> {
    code_lines(text)
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            let l = l
                .strip_prefix("pub(crate) ")
                .or_else(|| l.strip_prefix("pub(super) "))
                .unwrap_or(l);
            let name = l.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_string())
        })
        .collect()
}

/// Lines without comments and without `#[cfg(test)]` modules' bodies (tests may use
/// anything: they are not part of the module graph).
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut in_tests = false;
    let mut depth = 0i32;
    let mut pending_cfg_test = false;
    text.lines().filter(move |l| {
        let t = l.trim_start();
        if in_tests {
            depth += brace_delta(t);
            if depth <= 0 {
                in_tests = false;
            }
            return false;
        }
        if t.starts_with("#[cfg(test)]") {
            pending_cfg_test = true;
            return false;
        }
        if pending_cfg_test && t.starts_with("mod ") && t.contains('{') {
            pending_cfg_test = false;
            in_tests = true;
            depth = brace_delta(t);
            return false;
        }
        if !t.starts_with("#[") {
            pending_cfg_test = false;
        }
        !t.starts_with("//")
    })
}

fn brace_delta(line: &str) -> i32 {
    line.chars()
        .map(|c| match c {
            '{' => 1,
            '}' => -1,
            _ => 0,
        })
        .sum()
}

/// Every module path a file refers to with `crate::`, `super::` or `self::` (use
/// statements with their brace groups expanded, and inline paths), resolved to
/// absolute paths of the target. `pub use` statements are skipped.
fn references(text: &str, here: &ModPath, children: &[String]) -> Vec<ModPath> {
    let code: String = code_lines(text)
        .map(strip_strings)
        .collect::<Vec<_>>()
        .join("\n");
    let mut prefixes = vec!["crate::".to_string(), "super::".to_string()];
    prefixes.extend(children.iter().map(|c| format!("{c}::")));
    let mut out = Vec::new();
    for stmt in statements(&code, &prefixes) {
        let s = stmt.trim();
        if s.starts_with("pub use ") || s.starts_with("pub(crate) use ") {
            continue;
        }
        let body = s.strip_prefix("use ").unwrap_or(s);
        for path in expand(body) {
            if let Some(abs) = resolve(&path, here, children) {
                out.push(abs);
            }
        }
    }
    out
}

/// Removes the contents of string and char literals (paths inside them are not code).
fn strip_strings(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_str = false;
    let mut prev = ' ';
    for c in line.chars() {
        if c == '"' && prev != '\\' {
            in_str = !in_str;
        } else if !in_str {
            out.push(c);
        }
        prev = if prev == '\\' && c == '\\' { ' ' } else { c };
    }
    out
}

/// Splits code into `use ...;` statements and, for the rest, the inline
/// `crate::`/`super::` paths (each returned as its own pseudo-statement).
fn statements(code: &str, prefixes: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = find_use(rest) {
        inline_paths(&rest[..i], prefixes, &mut out);
        let end = rest[i..].find(';').map_or(rest.len(), |e| i + e + 1);
        out.push(rest[i..end].replace('\n', " "));
        rest = &rest[end..];
    }
    inline_paths(rest, prefixes, &mut out);
    out
}

/// Start of the next `use` statement (at a line start, optionally `pub`).
fn find_use(code: &str) -> Option<usize> {
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let t = line.trim_start();
        let lead = line.len() - t.len();
        if t.starts_with("use ") || t.starts_with("pub use ") || t.starts_with("pub(crate) use ") {
            return Some(offset + lead);
        }
        offset += line.len();
    }
    None
}

fn inline_paths(code: &str, prefixes: &[String], out: &mut Vec<String>) {
    for prefix in prefixes {
        let prefix = prefix.as_str();
        let mut from = 0;
        while let Some(i) = code[from..].find(prefix) {
            let start = from + i;
            let ok_before = code[..start]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '$' || c == ':'));
            let len = code[start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(code.len() - start);
            if ok_before {
                out.push(code[start..start + len].trim_end_matches(':').to_string());
            }
            from = start + len.max(prefix.len());
        }
    }
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e` (and `a` for `self`).
fn expand(body: &str) -> Vec<String> {
    let body: String = body
        .trim()
        .trim_end_matches(';')
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut out = Vec::new();
    expand_into("", &body, &mut out);
    out
}

fn expand_into(prefix: &str, item: &str, out: &mut Vec<String>) {
    match item.find('{') {
        Some(open) if item.ends_with('}') => {
            let head = &item[..open];
            let inner = &item[open + 1..item.len() - 1];
            let base = format!("{prefix}{head}");
            for part in split_top(inner) {
                expand_into(&base, part, out);
            }
        }
        _ => {
            let full = format!("{prefix}{item}");
            let full = full.trim_end_matches("::self").trim_end_matches("::*");
            out.push(full.to_string());
        }
    }
}

/// Splits on commas that are not inside braces.
fn split_top(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

/// An absolute module path for `path` seen from module `here` (`None` for external
/// crates and std).
fn resolve(path: &str, here: &ModPath, children: &[String]) -> Option<ModPath> {
    let mut segs = path.split("::").filter(|s| !s.is_empty());
    let first = segs.next()?;
    let mut abs: ModPath = match first {
        "crate" => Vec::new(),
        "self" => here.clone(),
        "super" => {
            let mut p = here.clone();
            p.pop();
            p
        }
        // 2018 paths: a child module's name resolves from the current module.
        child if children.iter().any(|c| c == child) => {
            let mut p = here.clone();
            p.push(child.to_string());
            p
        }
        _ => return None,
    };
    for s in segs {
        if s == "super" {
            abs.pop();
        } else {
            abs.push(s.to_string());
        }
    }
    Some(abs)
}

/// The longest prefix of `path` that is a module of the target.
fn owner(path: &ModPath, modules: &BTreeMap<ModPath, PathBuf>) -> ModPath {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains_key(p))
        .unwrap_or_default()
}

/// The module graph of a target: module → modules it uses.
fn graph(t: &Target) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let mut g: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (m, file) in &t.modules {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let children: Vec<String> = t
            .modules
            .keys()
            .filter(|k| k.len() == m.len() + 1 && k.starts_with(m))
            .filter_map(|k| k.last().cloned())
            .collect();
        let deps = g.entry(m.clone()).or_default();
        for r in references(&text, m, &children) {
            let o = owner(&r, &t.modules);
            if &o != m {
                deps.insert(o);
            }
        }
    }
    g
}

/// One cycle of the graph, if any (depth-first search with colours).
fn find_cycle(g: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Option<Vec<ModPath>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Colour {
        White,
        Grey,
        Black,
    }
    fn visit(
        n: &ModPath,
        g: &BTreeMap<ModPath, BTreeSet<ModPath>>,
        colour: &mut BTreeMap<ModPath, Colour>,
        stack: &mut Vec<ModPath>,
    ) -> Option<Vec<ModPath>> {
        colour.insert(n.clone(), Colour::Grey);
        stack.push(n.clone());
        for d in g.get(n).into_iter().flatten() {
            match colour.get(d).copied().unwrap_or(Colour::White) {
                Colour::Grey => {
                    let at = stack.iter().position(|x| x == d).unwrap_or(0);
                    let mut c = stack[at..].to_vec();
                    c.push(d.clone());
                    return Some(c);
                }
                Colour::White => {
                    if let Some(c) = visit(d, g, colour, stack) {
                        return Some(c);
                    }
                }
                Colour::Black => {}
            }
        }
        stack.pop();
        colour.insert(n.clone(), Colour::Black);
        None
    }
    let mut colour = BTreeMap::new();
    for n in g.keys() {
        if colour.get(n).copied().unwrap_or(Colour::White) == Colour::White {
            if let Some(c) = visit(n, g, &mut colour, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// Every compilation root of a crate's src folder.
fn roots(src: &Path) -> Vec<PathBuf> {
    let mut r: Vec<PathBuf> = ["lib.rs", "main.rs"]
        .iter()
        .map(|f| src.join(f))
        .filter(|p| p.is_file())
        .collect();
    if let Ok(bins) = std::fs::read_dir(src.join("bin")) {
        r.extend(bins.flatten().map(|e| e.path()).filter(|p| p.is_file()));
    }
    r
}

fn show(c: &[ModPath]) -> String {
    c.iter()
        .map(|m| {
            if m.is_empty() {
                "(root)".to_string()
            } else {
                m.join("::")
            }
        })
        .collect::<Vec<_>>()
        .join(" -> ")
}

#[test]
fn no_module_of_any_crate_is_in_an_import_cycle() {
    let root = workspace_root();
    let mut cycles = Vec::new();
    for krate in CRATES {
        let src = root.join(krate);
        assert!(
            src.is_dir(),
            "{} is not a crate source folder",
            src.display()
        );
        for r in roots(&src) {
            let t = target(&r);
            if let Some(c) = find_cycle(&graph(&t)) {
                cycles.push(format!("{}: {}", t.root.display(), show(&c)));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "import cycles between modules:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_guard_sees_a_cycle_between_siblings_and_with_a_parent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = |f: &str, s: &str| std::fs::write(dir.path().join(f), s).expect("write");
    w("lib.rs", "mod a;\nmod b;\npub use a::X;\n");
    w("a.rs", "use crate::b::{self, Y};\npub struct X;\n");
    w("b.rs", "pub struct Y;\nfn f() { let _ = super::a::X; }\n");
    let t = target(&dir.path().join("lib.rs"));
    assert_eq!(t.modules.len(), 3);
    let c = find_cycle(&graph(&t)).expect("a <-> b is a cycle");
    assert_eq!(show(&c), "a -> b -> a");

    w(
        "b.rs",
        "pub struct Y;\n#[cfg(test)]\nmod tests {\n    use crate::a::X;\n}\n",
    );
    assert_eq!(
        find_cycle(&graph(&target(&dir.path().join("lib.rs")))),
        None
    );

    w(
        "lib.rs",
        "mod a;\nmod b;\npub struct Ctx;\nfn run() { a::go(); }\n",
    );
    w("a.rs", "use super::Ctx;\npub fn go() {}\n");
    let c = find_cycle(&graph(&target(&dir.path().join("lib.rs"))));
    assert_eq!(
        c.map(|c| show(&c)).as_deref(),
        Some("(root) -> a -> (root)")
    );
}
