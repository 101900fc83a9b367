//! The layering rule of `keyward-core`: imports only point down, so no module imports one
//! that imports it back — neither between files (`storage::bucket::rows` → `storage::kv`) nor
//! between the top-level subsystems (`keys_file` → `api` → `edge` → `storage`), and the
//! arrows the crate documents hold ([`FORBIDDEN`]).
//!
//! The check reads `src/` as text: it drops comments and string literals, expands every
//! `use` tree, resolves `crate::`, `super::`, `self::`, child-module paths and names bound by
//! a `use` (`use crate::key;` then `key::format::parse`) to the file that defines them
//! (following `pub use` re-exports to their source), and looks for circles in the resulting
//! graph. A module's inline `mod tests { … }` counts as part of its file.
//!
//! What it reads is imports, not calls: a handler in `api/keys.rs` that implements
//! `router::Api` imports `router`, and `router` calling that method through `self` is no
//! import — that is the pattern by which a type's methods live beside it, one file per
//! concern, and it is allowed. Plain std, so it runs wherever `cargo test` does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`crate::storage::kv`) → source text, for every file under `src/`.
fn read_tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).expect("below src");
                let mut parts: Vec<String> = rel
                    .iter()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect();
                let file = parts.pop().expect("a file name");
                match file.as_str() {
                    "lib.rs" | "mod.rs" => {}
                    other => parts.push(other.trim_end_matches(".rs").to_owned()),
                }
                let module = std::iter::once("crate".to_owned())
                    .chain(parts)
                    .collect::<Vec<_>>()
                    .join("::");
                let text = std::fs::read_to_string(&path).expect("readable source");
                out.insert(module, text);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The text with comments, string and character literals blanked out (lifetimes kept).
fn strip(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if let Some(after_r) = raw_string_start(&c, i) {
            // Raw strings r"…", r#"…"#, br"…", cr"…": end at a quote followed by as many
            // hashes; nothing inside is an escape.
            let mut j = after_r;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            j += 1; // the opening quote
            while j < c.len() {
                if c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
            out.push_str("\"\"");
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c[i] == '\'' {
            // A character literal ('a', '\n', '\u{1F600}') or a lifetime ('a, 'static).
            let close = if next == Some('\\') {
                (i + 2..c.len().min(i + 12)).find(|&j| c[j] == '\'')
            } else if c.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(j) => {
                    out.push_str("' '");
                    i = j + 1;
                }
                None => {
                    out.push(c[i]);
                    i += 1;
                }
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Where a raw string literal starting at `i` goes on after its `r` (`r"`, `r#"`, `br"`,
/// `cr#"`, …), or `None` when no raw string starts there (`r#type` is a raw identifier).
fn raw_string_start(c: &[char], i: usize) -> Option<usize> {
    if ident_before(c, i) {
        return None;
    }
    let after_r = match (c.get(i), c.get(i + 1)) {
        (Some('r'), _) => i + 1,
        (Some('b' | 'c'), Some('r')) => i + 2,
        _ => return None,
    };
    let mut j = after_r;
    while c.get(j) == Some(&'#') {
        j += 1;
    }
    (c.get(j) == Some(&'"')).then_some(after_r)
}

fn ident_before(c: &[char], i: usize) -> bool {
    i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_')
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Punct(char),
    PathSep,
}

fn tokens(text: &str) -> Vec<Token> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c[i].is_alphabetic() || c[i] == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Token::Ident(c[start..i].iter().collect()));
        } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
            out.push(Token::PathSep);
            i += 2;
        } else if c[i].is_whitespace() {
            i += 1;
        } else {
            out.push(Token::Punct(c[i]));
            i += 1;
        }
    }
    out
}

/// A path as written, and the module it was written in.
#[derive(Debug, Clone)]
struct Written {
    module: String,
    path: Vec<String>,
    /// From a `use`: the name it binds in `module` (`*` for a glob).
    binds: Option<String>,
    /// From a `pub use` (a re-export).
    public: bool,
}

/// Expands a `use` tree starting at `toks[*i]` (after `use`), appending full paths.
fn use_tree(
    toks: &[Token],
    i: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, String)>,
) {
    let mut path = prefix;
    loop {
        match toks.get(*i) {
            Some(Token::Ident(name)) => {
                path.push(name.clone());
                *i += 1;
                match toks.get(*i) {
                    Some(Token::PathSep) => *i += 1,
                    Some(Token::Ident(kw)) if kw == "as" => {
                        *i += 1;
                        let alias = match toks.get(*i) {
                            Some(Token::Ident(a)) => a.clone(),
                            _ => path.last().cloned().unwrap_or_default(),
                        };
                        *i += 1;
                        out.push((path, alias));
                        return;
                    }
                    _ => {
                        let name = path.last().cloned().unwrap_or_default();
                        out.push((path, name));
                        return;
                    }
                }
            }
            Some(Token::Punct('*')) => {
                *i += 1;
                out.push((path, "*".to_owned()));
                return;
            }
            Some(Token::Punct('{')) => {
                *i += 1;
                loop {
                    match toks.get(*i) {
                        Some(Token::Punct('}')) => {
                            *i += 1;
                            return;
                        }
                        Some(Token::Punct(',')) => *i += 1,
                        None => return,
                        _ => use_tree(toks, i, path.clone(), out),
                    }
                }
            }
            _ => return,
        }
    }
}

/// Every path a module's text names: `use` trees expanded, plus paths written inline
/// that start with `crate`, `super` or `self`. Inline `mod x { … }` blocks are tracked so
/// that `super::` inside them means the file's own module.
fn written_paths(file_module: &str, text: &str) -> Vec<Written> {
    let toks = tokens(&strip(text));
    let mut out = Vec::new();
    // Stack of (inline module name, brace depth at which it closes).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let current = |inline: &Vec<(String, usize)>| {
        let mut m = file_module.to_owned();
        for (name, _) in inline {
            m.push_str("::");
            m.push_str(name);
        }
        m
    };
    while i < toks.len() {
        match &toks[i] {
            Token::Punct('{') => {
                depth += 1;
                i += 1;
            }
            Token::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            Token::Ident(kw) if kw == "mod" => {
                if let (Some(Token::Ident(name)), Some(Token::Punct('{'))) =
                    (toks.get(i + 1), toks.get(i + 2))
                {
                    inline.push((name.clone(), depth + 1));
                }
                i += 1;
            }
            Token::Ident(kw) if kw == "use" => {
                let is_pub = i > 0
                    && (matches!(&toks[i - 1], Token::Ident(p) if p == "pub")
                        || matches!(&toks[i - 1], Token::Punct(')')));
                i += 1;
                let mut trees = Vec::new();
                use_tree(&toks, &mut i, Vec::new(), &mut trees);
                for (path, name) in trees {
                    out.push(Written {
                        module: current(&inline),
                        path,
                        binds: Some(name),
                        public: is_pub,
                    });
                }
            }
            Token::Ident(first) if toks.get(i + 1) == Some(&Token::PathSep) => {
                // Any path written inline (`crate::x::y`, `super::Y`, `kv::keys::z`);
                // `graph` keeps those that start inside the crate or with a name a `use`
                // bound to something inside it.
                let preceded_by_sep = i > 0 && toks[i - 1] == Token::PathSep;
                let mut path = vec![first.clone()];
                let mut j = i + 1;
                while toks.get(j) == Some(&Token::PathSep) {
                    match toks.get(j + 1) {
                        Some(Token::Ident(next)) => {
                            path.push(next.clone());
                            j += 2;
                        }
                        _ => break,
                    }
                }
                if !preceded_by_sep && path.len() > 1 {
                    out.push(Written {
                        module: current(&inline),
                        path,
                        binds: None,
                        public: false,
                    });
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    out
}

/// The module graph of one tree: file module → the file modules it imports.
struct Graph {
    modules: BTreeSet<String>,
    edges: BTreeMap<String, BTreeSet<String>>,
}

fn graph(tree: &BTreeMap<String, String>) -> Graph {
    let modules: BTreeSet<String> = tree.keys().cloned().collect();
    let written: Vec<Written> = tree
        .iter()
        .flat_map(|(m, text)| written_paths(m, text))
        .collect();

    // Names that `use` binds, per module: `use crate::key;` makes `key::format::x` a path
    // into the crate, `use crate::storage as s;` makes `s::records` one.
    let mut bound: BTreeMap<(String, String), &Written> = BTreeMap::new();
    for w in &written {
        if let Some(name) = w.binds.as_ref().filter(|n| *n != "*") {
            bound.insert((w.module.clone(), name.clone()), w);
        }
    }
    let ctx = Resolver {
        tree,
        modules: &modules,
        bound: &bound,
    };

    // Re-exports: (module, name) → the absolute path it stands for.
    let mut reexports: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for w in &written {
        let reexport = w.binds.as_ref().filter(|_| w.public);
        if let (Some(name), Some(abs)) = (reexport, ctx.absolute(w, 0)) {
            if name != "*" {
                reexports.insert((file_of(&modules, &w.module), name.clone()), abs);
            }
        }
    }

    // The file module a path ends in, following re-exports to their source.
    let resolve = |abs: &[String]| -> String {
        let mut path = abs.to_vec();
        for _ in 0..16 {
            let mut hit = None;
            for n in (1..path.len()).rev() {
                let prefix = path[..n].join("::");
                if let Some(target) = reexports.get(&(prefix.clone(), path[n].clone())) {
                    if modules.contains(&prefix) {
                        let mut next = target.clone();
                        next.extend(path[n + 1..].iter().cloned());
                        hit = Some(next);
                        break;
                    }
                }
                if modules.contains(&prefix) {
                    break;
                }
            }
            match hit {
                Some(next) if next != path => path = next,
                _ => break,
            }
        }
        file_of(&modules, &path.join("::"))
    };

    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for w in &written {
        let Some(abs) = ctx.absolute(w, 0) else {
            continue;
        };
        let from = file_of(&modules, &w.module);
        let to = resolve(&abs);
        if to != from {
            edges.entry(from).or_default().insert(to);
        }
    }
    Graph { modules, edges }
}

struct Resolver<'a> {
    tree: &'a BTreeMap<String, String>,
    modules: &'a BTreeSet<String>,
    bound: &'a BTreeMap<(String, String), &'a Written>,
}

impl Resolver<'_> {
    /// The absolute path of a written path, or `None` when it leaves the crate (std,
    /// serde, a local name).
    fn absolute(&self, w: &Written, depth: usize) -> Option<Vec<String>> {
        let mut base: Vec<String> = w.module.split("::").map(str::to_owned).collect();
        let mut rest = w.path.as_slice();
        match rest.first().map(String::as_str) {
            Some("crate") => {
                base = vec!["crate".to_owned()];
                rest = &rest[1..];
            }
            Some("self") => rest = &rest[1..],
            Some("super") => {
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop();
                    rest = &rest[1..];
                }
            }
            Some(first) => {
                let alias = self
                    .bound
                    .get(&(w.module.clone(), first.to_owned()))
                    .filter(|a| !std::ptr::eq(**a, w) && depth < 8);
                if let Some(alias) = alias {
                    // A name a `use` bound: what it stands for, then the rest.
                    base = self.absolute(alias, depth + 1)?;
                    rest = &rest[1..];
                } else {
                    // A child module, written without `self::` (2018 paths).
                    let candidate = format!("{}::{first}", base.join("::"));
                    let is_child = self.modules.contains(&candidate)
                        || self
                            .modules
                            .iter()
                            .any(|m| m.starts_with(&format!("{candidate}::")))
                        || inline_module(self.tree, &w.module, first);
                    if !is_child {
                        return None;
                    }
                }
            }
            None => return None,
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }
}

/// Whether `module`'s file declares `mod child { … }` inline.
fn inline_module(tree: &BTreeMap<String, String>, module: &str, child: &str) -> bool {
    let file = file_of(&tree.keys().cloned().collect(), module);
    tree.get(&file).is_some_and(|text| {
        let toks = tokens(&strip(text));
        toks.windows(3).any(|w| {
            w[0] == Token::Ident("mod".into())
                && w[1] == Token::Ident(child.into())
                && w[2] == Token::Punct('{')
        })
    })
}

/// The longest module path in `modules` that `path` starts with.
fn file_of(modules: &BTreeSet<String>, path: &str) -> String {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|p| modules.contains(p))
        .unwrap_or_else(|| "crate".to_owned())
}

/// Every circle in a graph: its strongly connected components of more than one node, each
/// sorted, in order.
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's algorithm, recursive: module graphs are small.
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(targets) = s.edges.get(v) {
            for w in targets {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let low = s.low[v].min(s.low[w]);
                    s.low.insert(v, low);
                } else if s.on_stack.contains(w) {
                    let low = s.low[v].min(s.index[w]);
                    s.low.insert(v, low);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    let nodes: BTreeSet<&str> = edges
        .iter()
        .flat_map(|(k, v)| std::iter::once(k.as_str()).chain(v.iter().map(String::as_str)))
        .collect();
    for v in nodes {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out.sort();
    s.out
}

/// The same graph between top-level modules (`crate::storage::kv` → `storage`); edges
/// from the crate root (its `pub use` of `Error`) are left out.
fn top_level(edges: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let top = |m: &str| m.split("::").nth(1).map(str::to_owned);
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in edges {
        let Some(f) = top(from) else { continue };
        for to in targets {
            if let Some(t) = top(to) {
                if t != f {
                    out.entry(f.clone()).or_default().insert(t);
                }
            }
        }
    }
    out
}

fn describe(circles: &[Vec<String>], edges: &BTreeMap<String, BTreeSet<String>>) -> String {
    let mut out = String::new();
    for circle in circles {
        out.push_str(&format!("circle: {}\n", circle.join(", ")));
        for from in circle {
            for to in edges.get(from).into_iter().flatten() {
                if circle.contains(to) {
                    out.push_str(&format!("  {from} imports {to}\n"));
                }
            }
        }
    }
    out
}

/// The arrows between subsystems that the crate documents (lib.rs, ARCHITECTURE.md) and
/// that no circle check would catch: `from` must not import any of these.
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("edge", &["api", "keys_file"]),
    ("storage", &["api", "edge", "keys_file", "key", "limits"]),
    ("limits", &["api", "edge", "keys_file", "key", "selfserve"]),
    ("key", &["api", "edge", "keys_file", "storage"]),
    ("api", &["keys_file"]),
    // A shared module (`validate` applies its rule on `rateLimit`/`quota`): it imports no
    // subsystem, `limits` least of all (which imports `storage`, which imports `validate`).
    (
        "policy",
        &[
            "api",
            "edge",
            "keys_file",
            "storage",
            "key",
            "limits",
            "selfserve",
            "scan",
        ],
    ),
];

/// Every import between subsystems that [`FORBIDDEN`] rules out, as `from → to`.
fn forbidden(top: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for (from, targets) in FORBIDDEN {
        for to in *targets {
            if top.get(*from).is_some_and(|t| t.contains(*to)) {
                out.push(format!("{from} → {to}"));
            }
        }
    }
    out
}

fn core_tree() -> BTreeMap<String, String> {
    read_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

fn has_edge(edges: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    edges.get(from).is_some_and(|t| t.contains(to))
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let g = graph(&core_tree());
    assert!(g.modules.len() > 30, "read only {:?}", g.modules);
    // Imports the tree is known to have, written each way the check must read: a `use`
    // tree, a `super::` path, an inline `crate::` path, a module bound by `use crate::key;`
    // then written as `key::format::…`, and a re-export followed to its source.
    for (from, to) in [
        ("crate::storage::bucket::rows", "crate::storage::kv"),
        ("crate::api::buckets", "crate::api::router"),
        ("crate::storage::bucket::check", "crate::storage::store"),
        ("crate::api::keys", "crate::key::format"),
        ("crate::api::buckets", "crate::storage::bucket::rows"),
        ("crate::keys_file::plan::engine", "crate::api::model"),
        ("crate::storage::store", "crate::error"),
        ("crate::validate", "crate::policy"),
        ("crate::limits::policy", "crate::policy"),
    ] {
        assert!(
            has_edge(&g.edges, from, to),
            "the check no longer sees {from} → {to}: {:?}",
            g.edges.get(from)
        );
    }
    let found = circles(&g.edges);
    assert!(
        found.is_empty(),
        "imports must only point down; break these circles (move the shared piece down):\n{}",
        describe(&found, &g.edges)
    );
}

#[test]
fn no_subsystem_imports_one_that_imports_it_back() {
    let g = graph(&core_tree());
    let top = top_level(&g.edges);
    for (from, to) in [("keys_file", "api"), ("api", "edge"), ("edge", "storage")] {
        assert!(has_edge(&top, from, to), "{from} → {to} not seen: {top:?}");
    }
    let found = circles(&top);
    assert!(
        found.is_empty(),
        "subsystems must only import downwards:\n{}",
        describe(&found, &top)
    );
    let wrong = forbidden(&top);
    assert!(
        wrong.is_empty(),
        "imports against the documented layering: {wrong:?}"
    );
}

fn tree(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(m, t)| (m.to_string(), t.to_string()))
        .collect()
}

/// The check itself finds circles, through `use` trees, inline paths, `super`, names bound
/// by `use` and re-exports.
#[test]
fn the_check_finds_circles() {
    let circled = tree(&[
        ("crate", "pub mod a;\npub mod b;\npub use a::Thing;"),
        (
            "crate::a",
            "use crate::b::{self, Other};\npub struct Thing;",
        ),
        (
            "crate::b",
            "pub struct Other;\nfn f() -> crate::Thing { crate::Thing }",
        ),
    ]);
    let g = graph(&circled);
    assert_eq!(
        circles(&g.edges),
        vec![vec!["crate::a".to_owned(), "crate::b".to_owned()]]
    );

    let via_super = tree(&[
        ("crate", "pub mod p;"),
        ("crate::p", "mod c;\npub use c::C;\npub struct P;"),
        ("crate::p::c", "use super::P;\npub struct C;"),
    ]);
    assert_eq!(
        circles(&graph(&via_super).edges),
        vec![vec!["crate::p".to_owned(), "crate::p::c".to_owned()]]
    );

    // `use crate::s;` then `s::inner::f()`, and `use crate::s as t; use t::inner::G;`.
    let via_bound_names = tree(&[
        ("crate", "pub mod s;\npub mod x;\npub mod y;"),
        ("crate::s", "pub mod inner;"),
        (
            "crate::s::inner",
            "pub fn f() { crate::x::g() }\npub struct G;",
        ),
        ("crate::x", "use crate::s;\npub fn g() { s::inner::f() }"),
        ("crate::y", "use crate::s as t;\nuse t::inner::G;"),
    ]);
    let g = graph(&via_bound_names);
    assert_eq!(
        circles(&g.edges),
        vec![vec!["crate::s::inner".to_owned(), "crate::x".to_owned()]]
    );
    assert!(has_edge(&g.edges, "crate::y", "crate::s::inner"));

    // A documented arrow broken without a circle.
    let upward = tree(&[
        ("crate", "pub mod storage;\npub mod edge;"),
        ("crate::edge", "pub struct Cache;"),
        ("crate::storage", "use crate::edge::Cache;"),
    ]);
    let top = top_level(&graph(&upward).edges);
    assert_eq!(circles(&top), Vec::<Vec<String>>::new());
    assert_eq!(forbidden(&top), vec!["storage → edge".to_owned()]);
}

/// Comments, strings of every kind and test modules add no import, and hide none.
#[test]
fn comments_strings_and_tests_neither_add_nor_hide_imports() {
    let clean = tree(&[
        ("crate", "pub mod a;\npub mod b;\npub use a::Thing;"),
        (
            "crate::a",
            "pub struct Thing;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::a::Thing;\n}",
        ),
        (
            "crate::b",
            concat!(
                "// crate::c::Thing is mentioned in a comment\n",
                "/// [`crate::c`]\n/* outer /* crate::c */ still comment */\n",
                "const S: &str = \"crate::c::x \\\" crate::c\";\n",
                "const R: &str = r#\"super::c \"# ;\n",
                "const B: &[u8] = br\"\\\";\n",
                "const C: &[u8] = b\"crate::c\";\n",
                "fn f<'a>(c: char, d: &'a str) -> bool { c == '\"' || c == '\\'' }\n",
                "use crate::Thing;\n",
            ),
        ),
        ("crate::c", "use crate::b;"),
    ]);
    let g = graph(&clean);
    assert_eq!(
        circles(&g.edges),
        Vec::<Vec<String>>::new(),
        "{:?}",
        g.edges
    );
    assert_eq!(
        g.edges.get("crate::b"),
        Some(&BTreeSet::from(["crate::a".to_owned()])),
        "crate::Thing resolves to its source, crate::a, after every literal and comment"
    );
}
