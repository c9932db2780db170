//! The layer rule of ARCHITECTURE.md, checked against the code: every file under `src/`
//! imports only files of its own layer or a lower one, no files import each other in a circle
//! (in `src/` and in `mock-provider/src/`), and the codemap names every module.
//!
//! An import is any path the code names that leads into another file of the crate: `use`
//! trees (a `pub use` too) and paths in expressions that start with `crate::`, `super::`,
//! `self::` or a child module's name (and `tollgate::` in `main.rs`). A parent module's file
//! using its children imports them like any other file; only `mod child;` is no import. A path
//! to a name that a file hands on (`pub use`) leads on to the file that defines it. Code under
//! `#[cfg(test)]` is not counted: tests may reach anywhere. `cargo test --test layers` prints
//! every arrow that breaks a rule.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn src_imports_run_down_the_layers_only() {
    let layers = layer_rule();
    let krate = Crate::load(Path::new(ROOT).join("src"), &["lib.rs", "main.rs"], Some("tollgate"));
    let layer_of = |file: &str| -> Option<usize> {
        // The longest entry that names the file or a folder holding it.
        layers
            .iter()
            .enumerate()
            .flat_map(|(i, group)| group.iter().map(move |entry| (i, entry)))
            .filter(|(_, entry)| if entry.ends_with('/') { file.starts_with(entry.as_str()) } else { file == *entry })
            .max_by_key(|(_, entry)| entry.len())
            .map(|(i, _)| i)
    };
    let mut faults = Vec::new();
    for file in krate.files.values() {
        if layer_of(file).is_none() {
            faults.push(format!("src/{file} is in no layer of ARCHITECTURE.md's layer rule: add it (or its folder)"));
        }
    }
    for (from, tos) in &krate.edges {
        for (to, names) in tos {
            if let (Some(a), Some(b)) = (layer_of(from), layer_of(to))
                && b < a
            {
                faults.push(format!(
                    "src/{from} (layer {}) imports src/{to} (layer {}): {}",
                    a + 1,
                    b + 1,
                    join(names)
                ));
            }
        }
    }
    faults.extend(krate.circles().into_iter().map(|detail| format!("circle in src/: {detail}")));
    assert!(faults.is_empty(), "the layer rule is broken:\n{}", faults.join("\n"));
}

#[test]
fn the_mock_provider_imports_in_no_circle() {
    let krate = Crate::load(Path::new(ROOT).join("mock-provider/src"), &["lib.rs", "main.rs"], Some("mock_provider"));
    let circles = krate.circles();
    assert!(circles.is_empty(), "circles in mock-provider/src/:\n{}", circles.join("\n"));
}

/// The workspace denies `unsafe` (Cargo.toml) and allows it in one audited function: the
/// retention job's move to the idle scheduling class. Any other `unsafe_code` lint attribute,
/// or a second `unsafe` block there, fails here, so a new one is a decision someone makes.
#[test]
fn unsafe_code_is_allowed_in_one_audited_place_only() {
    let mut files = Vec::new();
    for dir in ["src", "mock-provider", "bench", "tests"] {
        rust_files(&Path::new(ROOT).join(dir), &mut files);
    }
    let this_file = Path::new(ROOT).join("tests/layers.rs");
    let mut mentions = Vec::new();
    for file in files.iter().filter(|f| **f != this_file) {
        let text = fs::read_to_string(file).unwrap();
        if text.contains("unsafe_code") {
            let relative = file.strip_prefix(ROOT).unwrap().display().to_string();
            mentions.push((relative, text.matches("unsafe {").count()));
        }
    }
    assert_eq!(mentions, [("src/jobs/low_priority.rs".to_string(), 1)], "unsafe code beyond the one audited call");
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "target" && n != "node_modules") {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_codemap_names_every_module() {
    let text = fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let krate = Crate::load(Path::new(ROOT).join("src"), &["lib.rs", "main.rs"], Some("tollgate"));
    // Codemap bullets: `- `src/...`` and the indented lines that continue them.
    let mut bullets: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("- `src/") {
            let head = rest.split('`').next().unwrap_or_default().to_string();
            bullets.push((head, line.to_string()));
        } else if line.starts_with("  ")
            && let Some((_, body)) = bullets.last_mut()
        {
            body.push(' ');
            body.push_str(line.trim());
        } else if !line.starts_with("  ") {
            bullets.push((String::new(), String::new()));
        }
    }
    let mut missing = Vec::new();
    for file in krate.files.values() {
        let listed = match file.split_once('/') {
            None => bullets.iter().any(|(head, _)| head == file),
            Some((folder, inside)) => {
                let name = inside.rsplit('/').next().unwrap_or(inside);
                name == "mod.rs"
                    || bullets.iter().any(|(head, body)| {
                        (head.strip_suffix('/') == Some(folder) || head.strip_suffix(".rs") == Some(folder))
                            && (body.contains(inside) || body.contains(name))
                    })
            }
        };
        if !listed {
            missing.push(format!("src/{file}"));
        }
    }
    assert!(missing.is_empty(), "ARCHITECTURE.md's codemap does not name:\n{}", missing.join("\n"));
}

#[test]
fn the_reader_finds_paths_in_use_trees_and_code_but_not_in_tests_comments_or_strings() {
    let code = r##"
        use crate::a::{self, b::{C, d as e}, f::*};
        use super::g::H;
        // use crate::comment::X;
        /* crate::block::X */
        fn f() { let _ = "crate::string::X"; let _ = r#"crate::raw::X"#; let _ = '\''; crate::i::j(); }
        #[cfg(test)]
        mod tests { use crate::tested::X; }
        #[cfg(test)]
        use crate::test_only::Y;
        mod child;
        #[cfg(test)]
        mod test_child;
    "##;
    let tokens = code_tokens(code);
    let found: BTreeSet<String> = paths(&tokens).iter().map(|p| p.join("::")).collect();
    let expected: BTreeSet<String> =
        ["crate::a::self", "crate::a::b::C", "crate::a::b::d", "crate::a::f", "super::g::H", "crate::i::j"]
            .into_iter()
            .map(str::to_string)
            .collect();
    assert_eq!(found, expected);
    assert_eq!(child_modules(&tokens), vec![("child".to_string(), None)]);
}

#[test]
fn a_parent_using_its_child_is_an_arrow_and_a_handed_on_name_leads_to_its_definition() {
    let dir = std::env::temp_dir().join(format!("tollgate-layers-{}", std::process::id()));
    let write = |file: &str, text: &str| {
        let path = dir.join(file);
        fs::create_dir_all(path.parent().expect("a folder")).expect("a scratch folder");
        fs::write(path, text).expect("a scratch file");
    };
    write("lib.rs", "mod reexports; mod calls; mod facade; mod user;");
    // A parent that hands on its child's function while the child uses the parent's type.
    write("reexports.rs", "mod convert;\npub use convert::to_wire;\npub struct Wire;");
    write("reexports/convert.rs", "use super::Wire;\npub fn to_wire() -> Wire { Wire }");
    // A parent that calls its child while the child calls the parent.
    write("calls.rs", "mod child;\npub fn top() { child::down() }\npub fn helper() {}");
    write("calls/child.rs", "pub fn down() { super::helper() }");
    // A facade: it defines nothing, so a name it hands on ties the user to the defining file.
    write("facade.rs", "mod inner;\nmod sibling;\npub use inner::Thing;");
    write("facade/inner.rs", "pub struct Thing;");
    write("facade/sibling.rs", "use super::Thing;\npub fn make() -> Thing { Thing }");
    write("user.rs", "use crate::facade::Thing;\npub fn f(_: Thing) {}");
    let krate = Crate::load(dir.clone(), &["lib.rs"], None);
    fs::remove_dir_all(&dir).expect("the scratch folder removed");
    let arrows: BTreeSet<(String, String)> =
        krate.edges.iter().flat_map(|(from, tos)| tos.keys().map(move |to| (from.clone(), to.clone()))).collect();
    let expected: BTreeSet<(String, String)> = [
        ("reexports.rs", "reexports/convert.rs"),
        ("reexports/convert.rs", "reexports.rs"),
        ("calls.rs", "calls/child.rs"),
        ("calls/child.rs", "calls.rs"),
        ("facade.rs", "facade/inner.rs"),
        ("facade/sibling.rs", "facade/inner.rs"),
        ("user.rs", "facade/inner.rs"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(arrows, expected);
    let circles = krate.circles();
    assert_eq!(circles.len(), 2, "{circles:?}");
    assert!(circles.iter().any(|c| c.contains("reexports.rs -> reexports/convert.rs (to_wire)")), "{circles:?}");
    assert!(circles.iter().any(|c| c.contains("calls/child.rs -> calls.rs (helper)")), "{circles:?}");
}

/// The groups of the rule, highest first: the backquoted lists on the line that starts with
/// `Layer rule:`, separated by `>`.
fn layer_rule() -> Vec<Vec<String>> {
    let text = fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let line = text
        .lines()
        .find(|l| l.starts_with("Layer rule:"))
        .expect("ARCHITECTURE.md has a line that starts with `Layer rule:`");
    let groups: Vec<Vec<String>> = line
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|group| group.split_whitespace().map(str::to_string).collect())
        .collect();
    assert!(groups.len() >= 2, "the layer rule names at least two groups: {line}");
    groups
}

fn join(names: &BTreeSet<String>) -> String {
    names.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// One crate's module files and the imports between them.
struct Crate {
    /// Module path → file, relative to the source folder (`routing/health.rs`).
    files: BTreeMap<Vec<String>, String>,
    /// File → file it imports → the names it takes from there.
    edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// `#[macro_export]` macros (named from the crate root) → the file that defines them.
    macros: BTreeMap<String, String>,
    /// File → name it hands on with a `pub use` → the file and name it takes it from.
    reexports: BTreeMap<String, BTreeMap<String, (String, String)>>,
}

impl Crate {
    /// Reads the modules reachable from `roots` by `mod` declarations (not `#[cfg(test)]`
    /// ones); `name` is how the binary root names the library (`tollgate::`).
    fn load(dir: PathBuf, roots: &[&str], name: Option<&str>) -> Crate {
        let mut files = BTreeMap::new();
        let mut macros = BTreeMap::new();
        let mut parsed = Vec::new();
        for root in roots {
            if !dir.join(root).exists() {
                continue;
            }
            // The binary is a crate of its own; its modules sit under a path of their own.
            let base = if *root == "lib.rs" { Vec::new() } else { vec![format!("<{root}>")] };
            let mut todo = vec![(base, dir.join(root), true)];
            while let Some((module, path, owns_dir)) = todo.pop() {
                let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let tokens = code_tokens(&text);
                let here = path.parent().expect("a file has a folder").to_path_buf();
                let child_dir = if owns_dir { here.clone() } else { here.join(path.file_stem().expect("a name")) };
                for (child, attr_path) in child_modules(&tokens) {
                    let file = match attr_path {
                        Some(p) => here.join(p),
                        None if child_dir.join(format!("{child}.rs")).exists() => child_dir.join(format!("{child}.rs")),
                        None => child_dir.join(&child).join("mod.rs"),
                    };
                    let owns = file.file_name().is_some_and(|n| n == "mod.rs");
                    let mut m = module.clone();
                    m.push(child);
                    todo.push((m, file, owns));
                }
                let rel = path.strip_prefix(&dir).expect("under the folder").to_string_lossy().replace('\\', "/");
                for name in exported_macros(&tokens) {
                    macros.insert(name, rel.clone());
                }
                files.insert(module.clone(), rel.clone());
                parsed.push((module, rel, tokens));
            }
        }
        let mut krate = Crate { files, edges: BTreeMap::new(), macros, reexports: BTreeMap::new() };
        let lib_name = |module: &[String]| if module.first().is_some_and(|m| m.starts_with('<')) { name } else { None };
        // First the names each file hands on, so that a path to one leads to where it is defined.
        let mut reexports: BTreeMap<String, BTreeMap<String, (String, String)>> = BTreeMap::new();
        for (module, rel, tokens) in &parsed {
            for import in imports(tokens).into_iter().filter(|i| i.public && i.bound != "*") {
                if let Some((file, item)) = krate.resolve(module, &import.path, lib_name(module))
                    && file != *rel
                    && !item.starts_with('(')
                {
                    reexports.entry(rel.clone()).or_default().insert(import.bound, (file, item));
                }
            }
        }
        krate.reexports = reexports;
        for (module, rel, tokens) in parsed {
            for Import { path, .. } in imports(&tokens) {
                if let Some((file, item)) = krate.resolve(&module, &path, lib_name(&module))
                    && file != rel
                {
                    krate.edges.entry(rel.clone()).or_default().entry(file).or_default().insert(item);
                }
            }
        }
        krate
    }

    /// The file a path leads into, and the name taken from it, seen from `module`.
    fn resolve(&self, module: &[String], path: &[String], lib_name: Option<&str>) -> Option<(String, String)> {
        let (mut base, mut rest): (Vec<String>, &[String]) = match path.first()?.as_str() {
            "crate" => {
                let root = module.first().filter(|m| m.starts_with('<')).into_iter().cloned().collect();
                (root, &path[1..])
            }
            first if Some(first) == lib_name => (Vec::new(), &path[1..]),
            "self" => (module.to_vec(), &path[1..]),
            "super" => {
                let mut base = module.to_vec();
                let mut rest = path;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                (base, rest)
            }
            first => {
                let mut child = module.to_vec();
                child.push(first.to_string());
                if !self.files.contains_key(&child) {
                    return None;
                }
                (child, &path[1..])
            }
        };
        while let Some(seg) = rest.first() {
            let mut deeper = base.clone();
            deeper.push(seg.clone());
            if seg == "self" || !self.files.contains_key(&deeper) {
                break;
            }
            base = deeper;
            rest = &rest[1..];
        }
        let item = rest.first().filter(|s| *s != "self").cloned().unwrap_or_else(|| "(the module)".to_string());
        if base.iter().all(|m| m.starts_with('<'))
            && let Some(file) = self.macros.get(&item)
        {
            return Some((file.clone(), format!("{item}!")));
        }
        // A name handed on by `pub use` leads on to the file that defines it.
        let mut found = (self.files.get(&base)?.clone(), item);
        for _ in 0..16 {
            match self.reexports.get(&found.0).and_then(|names| names.get(&found.1)) {
                Some(origin) => found = origin.clone(),
                None => break,
            }
        }
        Some(found)
    }

    /// Every circle of files, as its arrows with the names taken. A parent module's use of
    /// its children is an arrow like any other, a `pub use child::Item` too (only `mod child;`
    /// is not), so a child that uses what its parent defines closes a circle. A name that a
    /// file only hands on is no tie to that file: a path to it leads to the file defining it.
    fn circles(&self) -> Vec<String> {
        let arrows = &self.edges;
        // Tarjan's strongly connected components; a component of two or more files is a circle.
        struct Walk<'a> {
            edges: &'a BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
            index: BTreeMap<&'a str, usize>,
            low: BTreeMap<&'a str, usize>,
            stack: Vec<&'a str>,
            on_stack: BTreeSet<&'a str>,
            found: Vec<Vec<&'a str>>,
        }
        impl<'a> Walk<'a> {
            fn visit(&mut self, v: &'a str) {
                let n = self.index.len();
                self.index.insert(v, n);
                self.low.insert(v, n);
                self.stack.push(v);
                self.on_stack.insert(v);
                for w in self.edges.get(v).into_iter().flat_map(|m| m.keys()) {
                    if !self.index.contains_key(w.as_str()) {
                        self.visit(w);
                        let low = self.low[v].min(self.low[w.as_str()]);
                        self.low.insert(v, low);
                    } else if self.on_stack.contains(w.as_str()) {
                        let low = self.low[v].min(self.index[w.as_str()]);
                        self.low.insert(v, low);
                    }
                }
                if self.low[v] == self.index[v] {
                    let mut component = Vec::new();
                    while let Some(w) = self.stack.pop() {
                        self.on_stack.remove(w);
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if component.len() > 1 {
                        self.found.push(component);
                    }
                }
            }
        }
        let mut walk = Walk {
            edges: arrows,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            found: Vec::new(),
        };
        for file in self.files.values() {
            if !walk.index.contains_key(file.as_str()) {
                walk.visit(file);
            }
        }
        walk.found
            .iter()
            .map(|component| {
                let members: BTreeSet<&str> = component.iter().copied().collect();
                let mut lines = Vec::new();
                for from in &members {
                    for (to, names) in arrows.get(*from).into_iter().flatten() {
                        if members.contains(to.as_str()) {
                            lines.push(format!("{from} -> {to} ({})", join(names)));
                        }
                    }
                }
                lines.join("; ")
            })
            .collect()
    }
}

/// A token of Rust code: a word, `::`, or one other character. Comments and literals are gone.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Path,
    Punct(char),
    /// A string literal's text (only `#[path = "..."]` needs one).
    Str(String),
}

fn tokens(text: &str) -> Vec<Tok> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if text[i..].starts_with("//") {
            i = text[i..].find('\n').map_or(b.len(), |n| i + n);
        } else if text[i..].starts_with("/*") {
            let mut depth = 0;
            while i < b.len() {
                if text[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if text[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some((len, body)) = raw_string(&text[i..]) {
            out.push(Tok::Str(body));
            i += len;
        } else if c == b'"' || (c == b'b' && b.get(i + 1) == Some(&b'"')) {
            i += if c == b'b' { 2 } else { 1 };
            let start = i;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            out.push(Tok::Str(text[start..i.min(b.len())].to_string()));
            i += 1;
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            let rest = &text[i + 1..];
            if rest.starts_with('\\') {
                i += 3 + rest[2..].find('\'').map_or(rest.len(), |n| n + 1);
            } else if rest.chars().nth(1) == Some('\'') {
                i += 1 + rest.chars().next().map_or(0, char::len_utf8) + 1;
            } else {
                i += 1;
            }
        } else if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80) {
                i += 1;
            }
            out.push(Tok::Word(text[start..i].to_string()));
        } else if text[i..].starts_with("::") {
            out.push(Tok::Path);
            i += 2;
        } else {
            out.push(Tok::Punct(c as char));
            i += 1;
        }
    }
    out
}

/// `r"..."`, `r#"..."#`, `br"..."`: its length and body.
fn raw_string(s: &str) -> Option<(usize, String)> {
    let after_b = s.strip_prefix('b').unwrap_or(s);
    let after_r = after_b.strip_prefix('r')?;
    let hashes = after_r.len() - after_r.trim_start_matches('#').len();
    let body = after_r[hashes..].strip_prefix('"')?;
    let close = format!("\"{}", "#".repeat(hashes));
    let end = body.find(&close)?;
    let len = (s.len() - body.len()) + end + close.len();
    Some((len, body[..end].to_string()))
}

/// The tokens of the code that is compiled outside tests: an item under `#[cfg(test)]` (or
/// `#[cfg(any(test, ...))]`) is dropped, and so is a file whose inner attribute says so.
fn code_tokens(text: &str) -> Vec<Tok> {
    let all = tokens(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < all.len() {
        if let Some(end) = test_attribute(&all, i) {
            if all.get(i + 1) == Some(&Tok::Punct('!')) {
                return Vec::new();
            }
            i = item_end(&all, end);
            continue;
        }
        out.push(all[i].clone());
        i += 1;
    }
    out
}

/// If an attribute that enables its item only in tests starts at `i`: the index after it.
fn test_attribute(t: &[Tok], i: usize) -> Option<usize> {
    if t.get(i) != Some(&Tok::Punct('#')) {
        return None;
    }
    let open = if t.get(i + 1) == Some(&Tok::Punct('!')) { i + 2 } else { i + 1 };
    if t.get(open) != Some(&Tok::Punct('[')) || t.get(open + 1) != Some(&Tok::Word("cfg".into())) {
        return None;
    }
    let end = matching(t, open)?;
    let inside = &t[open + 2..end];
    let test_only = match inside {
        [Tok::Punct('('), Tok::Word(w), Tok::Punct(')')] => w == "test",
        [Tok::Punct('('), Tok::Word(all), ..] if all == "all" => inside.contains(&Tok::Word("test".into())),
        _ => false,
    };
    test_only.then_some(end + 1)
}

/// The index after the item that starts at `i` (attributes, then up to `;` or a `{...}`).
fn item_end(t: &[Tok], mut i: usize) -> usize {
    while i < t.len() {
        match &t[i] {
            Tok::Punct(';') => return i + 1,
            Tok::Punct('{') => return matching(t, i).map_or(t.len(), |e| e + 1),
            Tok::Punct('#') => {
                i = t[i..]
                    .iter()
                    .position(|x| *x == Tok::Punct('['))
                    .and_then(|o| matching(t, i + o))
                    .map_or(t.len(), |e| e + 1)
            }
            _ => i += 1,
        }
    }
    t.len()
}

/// The index of the bracket that closes the one at `open`.
fn matching(t: &[Tok], open: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (j, tok) in t.iter().enumerate().skip(open) {
        match tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// The names of `#[macro_export] macro_rules! name`.
fn exported_macros(t: &[Tok]) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..t.len() {
        if let (Tok::Word(m), Some(Tok::Punct('!')), Some(Tok::Word(name))) = (&t[i], t.get(i + 1), t.get(i + 2))
            && m == "macro_rules"
            && i >= 4
            && t[i - 4..i] == [Tok::Punct('#'), Tok::Punct('['), Tok::Word("macro_export".into()), Tok::Punct(']')]
        {
            out.push(name.clone());
        }
    }
    out
}

/// `mod name;` declarations (with a `#[path = "..."]` if given).
fn child_modules(t: &[Tok]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for i in 0..t.len() {
        if let (Tok::Word(m), Some(Tok::Word(name)), Some(Tok::Punct(';'))) = (&t[i], t.get(i + 1), t.get(i + 2))
            && m == "mod"
        {
            out.push((name.clone(), path_attribute(t, i)));
        }
    }
    out
}

/// The `#[path = "..."]` among the attributes right before the item keyword at `i`.
fn path_attribute(t: &[Tok], i: usize) -> Option<String> {
    let mut j = i;
    // Skip back over `pub`, `pub(crate)`.
    while j > 0
        && (matches!(&t[j - 1], Tok::Word(w) if w == "pub" || w == "crate" || w == "super")
            || matches!(t[j - 1], Tok::Punct('(' | ')')))
    {
        j -= 1;
    }
    while j > 0 && t[j - 1] == Tok::Punct(']') {
        let open = (0..j - 1).rev().find(|&k| t[k] == Tok::Punct('['))?;
        if let [Tok::Word(w), Tok::Punct('='), Tok::Str(p)] = &t[open + 1..j - 1]
            && w == "path"
        {
            return Some(p.clone());
        }
        j = open.checked_sub(1)?;
    }
    None
}

/// Every path the code names: each `use` tree expanded, and each `a::b::c` elsewhere that
/// does not continue another path.
fn paths(t: &[Tok]) -> Vec<Vec<String>> {
    imports(t).into_iter().map(|import| import.path).collect()
}

/// A path the code names.
struct Import {
    path: Vec<String>,
    /// The name a `use` binds (its last segment, the `as` name, or `*`).
    bound: String,
    /// Named by a `pub use` (`pub(crate) use`, ...): the name is handed on.
    public: bool,
}

/// Every path the code names (as [`paths`]), with what a `use` binds.
fn imports(t: &[Tok]) -> Vec<Import> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        if t[i] == Tok::Word("use".into()) {
            let end = (i..t.len()).find(|&j| t[j] == Tok::Punct(';')).unwrap_or(t.len());
            let mut tree = Vec::new();
            use_tree(&t[i + 1..end], &mut Vec::new(), &mut tree);
            let public = is_public(t, i);
            out.extend(tree.into_iter().map(|(path, bound)| Import { path, bound, public }));
            i = end + 1;
            continue;
        }
        let starts = matches!(t[i], Tok::Word(_))
            && t.get(i + 1) == Some(&Tok::Path)
            && (i == 0 || !matches!(t[i - 1], Tok::Path | Tok::Punct('$')));
        if starts {
            let mut path = Vec::new();
            let mut j = i;
            while let Some(Tok::Word(w)) = t.get(j) {
                path.push(w.clone());
                if t.get(j + 1) != Some(&Tok::Path) {
                    break;
                }
                j += 2;
            }
            let bound = path.last().cloned().unwrap_or_default();
            out.push(Import { path, bound, public: false });
            i = j + 1;
            continue;
        }
        i += 1;
    }
    out
}

/// Whether the item keyword at `i` is preceded by `pub` or `pub(...)`.
fn is_public(t: &[Tok], i: usize) -> bool {
    match i.checked_sub(1).map(|j| &t[j]) {
        Some(Tok::Word(w)) => w == "pub",
        Some(Tok::Punct(')')) => {
            let open = (0..i - 1).rev().find(|&k| t[k] == Tok::Punct('('));
            open.is_some_and(|o| o > 0 && t[o - 1] == Tok::Word("pub".into()))
        }
        _ => false,
    }
}

/// Expands `a::{b, c::{d, e as f}, g::*}` after `prefix` into whole paths, each with the
/// name it binds.
fn use_tree(t: &[Tok], prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    let depth = prefix.len();
    let mut i = 0;
    while i < t.len() {
        match &t[i] {
            Tok::Word(w) if w == "as" => {
                if let (Some((_, bound)), Some(Tok::Word(alias))) = (out.last_mut(), t.get(i + 1)) {
                    *bound = alias.clone();
                }
                i += 2
            }
            Tok::Word(w) if w == "pub" => i += 1,
            Tok::Word(w) => {
                prefix.push(w.clone());
                i += 1;
                if t.get(i) != Some(&Tok::Path) {
                    out.push((prefix.clone(), w.clone()));
                    prefix.truncate(depth);
                }
            }
            Tok::Path => i += 1,
            Tok::Punct('{') => {
                let end = matching(t, i).unwrap_or(t.len() - 1);
                // Split the group at top-level commas.
                let mut start = i + 1;
                let mut level = 0;
                for j in i + 1..=end {
                    match t[j] {
                        Tok::Punct('{') => level += 1,
                        Tok::Punct('}') if level > 0 => level -= 1,
                        Tok::Punct(',') | Tok::Punct('}') if level == 0 => {
                            let mut p = prefix.clone();
                            use_tree(&t[start..j], &mut p, out);
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                prefix.truncate(depth);
                i = end + 1;
            }
            Tok::Punct('*') => {
                out.push((prefix.clone(), "*".to_string()));
                prefix.truncate(depth);
                i += 1;
            }
            _ => i += 1,
        }
    }
}
