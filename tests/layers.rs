//! The layering `src/lib.rs` and the README's code map promise, checked on the sources (no build of the
//! library involved). Every reference a library file makes to a module of the crate — `use` trees, and
//! paths through `crate::`, `super::`, `self::` or a child module, comments and literals left out — is
//! an import of the file that module lives in. Checked: each import goes to the importer's own top-level
//! module or to one in an earlier layer (unit tests included); no file imports one that imports it back,
//! directly or round a cycle (library code); the layers are the README code map's, in its order, and
//! hold every module `lib.rs` declares; nothing outside `src/cli/` names clap. A checker that saw nothing
//! would pass everything, so the imports it must find and a small tree with every fault are tested too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first, as the README's code map lists them. Modules of one layer import neither
/// each other (the two backends).
const LAYERS: &[&[&str]] = &[
    &["frame"],
    &["params"],
    &["stats"],
    &["values"],
    &["raster"],
    &["analysis"],
    &["overlay"],
    &["phantom"],
    &["reference", "gpu"],
    &["measure"],
    &["processor"],
    &["backend"],
    &["evaluation"],
    &["metrics"],
    &["media"],
    &["paths"],
    &["element"],
    &["live"],
    &["report"],
    &["archive"],
    &["cli"],
];

/// Files that name each other by construction: a GObject subclass's public wrapper (`glib::wrapper!` over
/// `imp::NirfMargin`) and its implementation (`ObjectSubclass::Type = super::NirfMargin`). The second
/// file's import of the first is left out of the cycle check.
const MUTUAL: &[(&str, &str)] = &[("element", "element::imp")];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Module path of a file under `src/`: `a/b.rs` → `a::b`, `a/mod.rs` → `a`; `None` for the crate roots.
fn module_of(rel: &Path) -> Option<String> {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    if parts.is_empty() && (stem == "lib" || stem == "main") {
        return None;
    }
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    Some(parts.join("::"))
}

/// Every library file under `src/`, by module path.
fn library(src: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, src, out);
            } else if let Some(m) = module_of(p.strip_prefix(src).unwrap()) {
                out.insert(m, std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `text` with comments and string and character literals blanked (lifetimes kept).
fn blank(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c[i] == '/' && c.get(i + 1) == Some(&'*') {
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
            continue;
        }
        // Raw strings: r"…", r#"…"#, br#"…"#.
        let starts_word = i == 0 || !is_ident(c[i - 1]) || (c[i - 1] == 'b' && (i == 1 || !is_ident(c[i - 2])));
        if c[i] == 'r' && starts_word {
            let mut j = i + 1;
            while c.get(j) == Some(&'#') {
                j += 1;
            }
            let hashes = j - i - 1;
            if c.get(j) == Some(&'"') {
                j += 1;
                while j < c.len() && !(c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#'))) {
                    j += 1;
                }
                i = j + 1 + hashes;
                out.push_str("\"\"");
                continue;
            }
        }
        if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
            continue;
        }
        if c[i] == '\'' {
            if c.get(i + 1) == Some(&'\\') {
                let mut j = i + 3;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
                continue;
            }
            if c.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
                continue;
            }
        }
        out.push(c[i]);
        i += 1;
    }
    out
}

/// Identifiers (`$crate` one of them), `::` and single punctuation characters.
fn tokens(code: &str) -> Vec<String> {
    let c: Vec<char> = code.chars().collect();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < c.len() {
        if c[i].is_whitespace() {
            i += 1;
        } else if is_ident(c[i]) || c[i] == '$' {
            let s = i;
            i += 1;
            while i < c.len() && is_ident(c[i]) {
                i += 1;
            }
            out.push(c[s..i].iter().collect());
        } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
            out.push("::".to_string());
            i += 2;
        } else {
            out.push(c[i].to_string());
            i += 1;
        }
    }
    out
}

fn at(t: &[String], i: usize) -> &str {
    t.get(i).map_or("", String::as_str)
}

fn ident_at(t: &[String], i: usize) -> bool {
    at(t, i).chars().next().is_some_and(|c| is_ident(c) || c == '$')
}

/// Which tokens belong to a `#[cfg(test)]` item (up to its `;` or its closing brace).
fn test_mask(t: &[String]) -> Vec<bool> {
    const ATTR: [&str; 7] = ["#", "[", "cfg", "(", "test", ")", "]"];
    let mut mask = vec![false; t.len()];
    let mut i = 0;
    while i + ATTR.len() <= t.len() {
        if !ATTR.iter().zip(&t[i..]).all(|(a, b)| a == b) {
            i += 1;
            continue;
        }
        let (mut j, mut braces, mut brackets) = (i + ATTR.len(), 0i32, 0i32);
        while j < t.len() {
            match t[j].as_str() {
                ";" if braces == 0 && brackets == 0 => break,
                "(" | "[" => brackets += 1,
                ")" | "]" => brackets -= 1,
                "{" => braces += 1,
                "}" => {
                    braces -= 1;
                    if braces == 0 {
                        break;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        let end = j.min(t.len() - 1);
        mask[i..=end].iter_mut().for_each(|m| *m = true);
        i = end + 1;
    }
    mask
}

/// Reads the use tree at `t[*i]` into `out` (each leaf's full path, `*` and `as` names dropped).
fn use_tree(t: &[String], i: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
    if at(t, *i) == "::" {
        *i += 1;
    }
    if at(t, *i) == "{" {
        *i += 1;
        while *i < t.len() && at(t, *i) != "}" {
            let before = *i;
            use_tree(t, i, prefix, out);
            if at(t, *i) == "," || *i == before {
                *i += 1;
            }
        }
        *i += 1;
        return;
    }
    let mut path = prefix.to_vec();
    while ident_at(t, *i) {
        path.push(t[*i].clone());
        *i += 1;
        if at(t, *i) != "::" {
            break;
        }
        *i += 1;
        match at(t, *i) {
            "{" => return use_tree(t, i, &path, out),
            "*" => {
                *i += 1;
                break;
            }
            _ => {}
        }
    }
    if at(t, *i) == "as" {
        *i += 2;
    }
    out.push(path);
}

/// The file module a path names, seen from module `here` (`at_root`: outside any inline module, where
/// the file's child modules `children` are in scope). `None`: not the crate's.
fn resolve(path: &[String], here: &[String], at_root: bool, children: &BTreeSet<String>, files: &BTreeSet<String>) -> Option<String> {
    let first = path.first()?.as_str();
    let (mut segs, rest) = match first {
        "crate" | "$crate" => (Vec::new(), &path[1..]),
        "self" | "super" => (here.to_vec(), path),
        c if at_root && children.contains(c) => (here.to_vec(), path),
        _ => return None,
    };
    for s in rest {
        match s.as_str() {
            "super" => {
                segs.pop();
            }
            "self" => {}
            _ => segs.push(s.clone()),
        }
    }
    (1..=segs.len()).rev().map(|n| segs[..n].join("::")).find(|m| files.contains(m))
}

/// One import: `from` names `to`, in test code or not.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Import {
    from: String,
    to: String,
    test: bool,
}

/// Every import of every file of `files` (module path → source).
fn imports(files: &BTreeMap<String, String>) -> Vec<Import> {
    let names: BTreeSet<String> = files.keys().cloned().collect();
    let mut out = BTreeSet::new();
    for (module, text) in files {
        let t = tokens(&blank(text));
        let test = test_mask(&t);
        let children: BTreeSet<String> =
            (0..t.len()).filter(|&k| t[k] == "mod" && ident_at(&t, k + 1) && at(&t, k + 2) == ";").map(|k| t[k + 1].clone()).collect();
        let base: Vec<String> = module.split("::").map(str::to_string).collect();
        let (mut inline, mut depth, mut pending) = (Vec::<(String, i32)>::new(), 0i32, None::<String>);
        let mut i = 0;
        while i < t.len() {
            let here: Vec<String> = base.iter().cloned().chain(inline.iter().map(|m| m.0.clone())).collect();
            let mut found = Vec::new();
            let start = i;
            match t[i].as_str() {
                "{" => {
                    depth += 1;
                    if let Some(name) = pending.take() {
                        inline.push((name, depth));
                    }
                }
                "}" => {
                    if inline.last().is_some_and(|m| m.1 == depth) {
                        inline.pop();
                    }
                    depth -= 1;
                }
                "mod" if ident_at(&t, i + 1) && at(&t, i + 2) == "{" => pending = Some(t[i + 1].clone()),
                "use" if i == 0 || at(&t, i - 1) != "::" => {
                    i += 1;
                    use_tree(&t, &mut i, &[], &mut found);
                    i -= 1;
                }
                w if at(&t, i + 1) == "::"
                    && !matches!(at(&t, i.wrapping_sub(1)), "::" | ".")
                    && (matches!(w, "crate" | "$crate" | "self" | "super") || (inline.is_empty() && children.contains(w))) =>
                {
                    let mut path = vec![w.to_string()];
                    while at(&t, i + 1) == "::" && ident_at(&t, i + 2) {
                        path.push(t[i + 2].clone());
                        i += 2;
                    }
                    found.push(path);
                }
                _ => {}
            }
            for p in found {
                if let Some(to) = resolve(&p, &here, inline.is_empty(), &children, &names).filter(|to| to != module) {
                    out.insert(Import { from: module.clone(), to, test: test[start] });
                }
            }
            i += 1;
        }
    }
    out.into_iter().collect()
}

fn layer_of(module: &str) -> Option<usize> {
    let top = module.split("::").next()?;
    LAYERS.iter().position(|l| l.contains(&top))
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

/// Imports that go to a later layer, to a sibling of the same layer, or from or to a module in no layer.
fn upward(imports: &[Import]) -> Vec<String> {
    let mut bad = Vec::new();
    for im in imports {
        if top(&im.from) == top(&im.to) {
            continue;
        }
        let what = if im.test { " (in its tests)" } else { "" };
        match (layer_of(&im.from), layer_of(&im.to)) {
            (Some(a), Some(b)) if b < a => {}
            (Some(a), Some(b)) if a == b => bad.push(format!("{} imports {}{what}: {} and {} are one layer and must not know each other", im.from, im.to, top(&im.from), top(&im.to))),
            (Some(_), Some(_)) => bad.push(format!("{} imports {}{what}: {} is a later layer than {}", im.from, im.to, top(&im.to), top(&im.from))),
            _ => bad.push(format!("{} imports {}{what}: a module in no layer of LAYERS", im.from, im.to)),
        }
    }
    bad
}

/// The cycles between files of the library code (tests left out): each strongly connected component of
/// more than one file, with its imports.
fn cycles(imports: &[Import]) -> Vec<String> {
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for im in imports.iter().filter(|im| !im.test) {
        if MUTUAL.iter().any(|&(a, b)| im.from == b && im.to == a) {
            continue;
        }
        graph.entry(im.from.as_str()).or_default().push(im.to.as_str());
        graph.entry(im.to.as_str()).or_default();
    }
    // Tarjan's strongly connected components.
    struct State<'a> {
        graph: &'a BTreeMap<&'a str, Vec<&'a str>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(v: &'a str, s: &mut State<'a>) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        let graph = s.graph;
        for &w in &graph[v] {
            let reach = if !s.index.contains_key(w) {
                visit(w, s);
                s.low[w]
            } else if s.on.contains(w) {
                s.index[w]
            } else {
                continue;
            };
            if reach < s.low[v] {
                s.low.insert(v, reach);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                comp.push(w);
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = State { graph: &graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), on: BTreeSet::new(), out: Vec::new() };
    for &v in graph.keys() {
        if !s.index.contains_key(v) {
            visit(v, &mut s);
        }
    }
    let mut out = Vec::new();
    for comp in &s.out {
        let mut inside = Vec::new();
        for &a in comp {
            for &b in &graph[a] {
                if comp.contains(&b) {
                    inside.push(format!("{a} -> {b}"));
                }
            }
        }
        out.push(format!("cycle between {}: {}", comp.join(", "), inside.join("; ")));
    }
    out
}

/// Files outside `src/cli/` that name clap.
fn clap_outside_cli(files: &BTreeMap<String, String>) -> Vec<String> {
    let mut bad = Vec::new();
    for (module, text) in files.iter().filter(|(m, _)| top(m) != "cli") {
        let t = tokens(&blank(text));
        if (0..t.len()).any(|k| t[k] == "clap" && (at(&t, k + 1) == "::" || at(&t, k.wrapping_sub(1)) == "use")) {
            bad.push(format!("{module} names clap"));
        }
    }
    bad
}

/// The modules the README's code map names, in its order: `src/x.rs`, `src/x/` or `x.rs`.
fn code_map(readme: &str) -> Vec<String> {
    let start = readme.find("Code map (each layer imports only those before it").expect("the README has its code map");
    let para = &readme[start..readme[start..].find("\n\n").map_or(readme.len(), |e| start + e)];
    let plain = |s: &str| !s.is_empty() && s.chars().all(is_ident);
    para.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|s| match s.strip_prefix("src/") {
            Some(rest) => rest.strip_suffix(".rs").or_else(|| rest.strip_suffix('/')),
            None => s.strip_suffix(".rs"),
        })
        .filter(|m| plain(m) && *m != "lib" && *m != "main")
        .map(str::to_string)
        .collect()
}

fn layer_names() -> Vec<String> {
    LAYERS.iter().flat_map(|l| l.iter().map(|m| m.to_string())).collect()
}

#[test]
fn each_layer_imports_only_those_before_it() {
    let files = library(&root().join("src"));
    let imports = imports(&files);
    let bad = upward(&imports);
    assert!(bad.is_empty(), "{} imports against the layer order:\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn no_file_imports_one_that_imports_it_back() {
    let files = library(&root().join("src"));
    let bad = cycles(&imports(&files));
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn only_the_command_line_knows_clap() {
    let files = library(&root().join("src"));
    let bad = clap_outside_cli(&files);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The order checked is the README's, and every module `lib.rs` declares has its place in it.
#[test]
fn the_layers_are_the_readme_code_map_and_lib_rs_modules() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert_eq!(code_map(&readme), layer_names(), "the README's code map and LAYERS disagree");
    let lib = tokens(&blank(&std::fs::read_to_string(root().join("src/lib.rs")).unwrap()));
    let declared: BTreeSet<String> = (0..lib.len()).filter(|&k| lib[k] == "mod" && at(&lib, k + 2) == ";").map(|k| lib[k + 1].clone()).collect();
    assert_eq!(declared, layer_names().into_iter().collect::<BTreeSet<_>>(), "lib.rs's modules and LAYERS disagree");
}

/// The checker sees the imports it must: through `crate::`, `super::`, a child module, a use group,
/// and in a unit test only; and it sees enough of them.
#[test]
fn the_checker_finds_the_imports_of_the_sources() {
    let imports = imports(&library(&root().join("src")));
    let has = |from: &str, to: &str, test: bool| imports.iter().any(|im| im.from == from && im.to == to && im.test == test);
    assert!(imports.len() > 200, "only {} imports found", imports.len());
    for (from, to) in [
        ("processor", "overlay"),
        ("reference::reduce", "raster::rect"),
        ("live", "live::pipeline"),
        ("element::imp", "element::failsafe"),
        ("gpu::shaders", "gpu::context"),
        ("cli::analyze", "cli::signals"),
        ("element", "element::imp"),
        ("element::imp", "element"),
    ] {
        assert!(has(from, to, false), "{from} -> {to} not seen");
    }
    assert!(has("gpu::uniforms", "gpu::prelude", true), "a unit test's import not seen");
    assert!(!has("gpu::uniforms", "gpu::prelude", false), "a unit test's import taken for the library's");
}

/// On a small tree holding each fault: an import of a later layer, one between the two backends, one in
/// a unit test, a cycle through `super` and a child module, clap outside the command line; and nothing
/// taken from comments, strings or characters.
#[test]
fn the_checker_finds_each_fault() {
    let tree: BTreeMap<String, String> = [
        ("frame", "pub struct Plane;\n#[cfg(test)]\nmod tests { use crate::measure::X; }"),
        ("analysis", "use crate::{frame::Plane, overlay::palette::A};"),
        ("overlay", "pub mod palette;"),
        ("overlay::palette", "// crate::cli::run\npub const A: &str = \"crate::cli::run\"; const Q: char = '\"'; fn f<'a>(x: &'a str) {}"),
        ("reference", "mod x;\npub use x::Y;\npub struct Z;"),
        ("reference::x", "use super::Z;\npub struct Y;"),
        ("gpu", "fn f() -> crate::reference::Z { todo!() }"),
        ("measure", "#[derive(clap::ValueEnum)] pub enum X {}"),
    ]
    .into_iter()
    .map(|(m, s)| (m.to_string(), s.to_string()))
    .collect();
    let found = imports(&tree);
    let up = upward(&found);
    assert_eq!(up.len(), 3, "{up:#?}");
    assert!(up[0].starts_with("analysis imports overlay::palette:"), "{up:#?}");
    assert!(up[1].starts_with("frame imports measure (in its tests)"), "{up:#?}");
    assert!(up[2].starts_with("gpu imports reference:") && up[2].contains("one layer"), "{up:#?}");
    assert!(!found.iter().any(|im| im.from == "overlay::palette"), "{found:#?}");
    let cyc = cycles(&found);
    assert_eq!(cyc, vec!["cycle between reference, reference::x: reference -> reference::x; reference::x -> reference".to_string()]);
    assert_eq!(clap_outside_cli(&tree), vec!["measure names clap".to_string()]);
    let readme = "x\n\nCode map (each layer imports only those before it): `src/frame.rs` (`FrameSize`), `params.rs` · `src/gpu/` (`context`) · `tests/layers.rs` · `shaders/`\n\nmore `src/cli/`";
    assert_eq!(code_map(readme), ["frame", "params", "gpu"]);
}
