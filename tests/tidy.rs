//! Style rules that a test enforces rather than a reviewer (TigerBeetle's `tidy.zig`): each ban
//! names its reason and the only files where the needle may appear.

use std::path::{Path, PathBuf};

/// (needle, why, files where it is allowed)
const BANS: &[(&str, &str, &[&str])] = &[
    ("glommio::", "only the runtime seam names glommio", &["src/runtime/glommio.rs", "src/runtime/mod.rs"]),
    ("crate::shards", "mechanisms in src/ must not depend on the shard kinds", &["src/lib.rs"]),
    ("Arc<Mutex", "shard state is owned; send the owner a message", &[]),
    ("RwLock<", "shard state is owned; send the owner a message", &[]),
    ("DashMap", "shard state is owned; send the owner a message", &[]),
    ("FIXME", "leftover FIXME; resolve it before merging", &[]),
    ("dbg!(", "leftover debugging output", &[]),
];

fn rust_files(root: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            into.push(path);
        }
    }
}

#[test]
fn banned_patterns_appear_only_where_allowed() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for folder in ["src", "shards"] {
        rust_files(&manifest.join(folder), &mut files);
    }
    let mut violations = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(manifest).unwrap().to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(file).unwrap();
        for (needle, why, allowed) in BANS {
            if allowed.contains(&relative.as_str()) {
                continue;
            }
            for (index, line) in text.lines().enumerate() {
                // `shards/` itself is the crate's `shards` module: `crate::shards` is fine there.
                if *needle == "crate::shards" && relative.starts_with("shards/") {
                    continue;
                }
                if line.contains(needle) {
                    violations.push(format!("{relative}:{}: `{needle}`: {why}", index + 1));
                }
            }
        }
    }
    assert!(violations.is_empty(), "style violations:\n{}", violations.join("\n"));
}

#[test]
fn every_source_file_starts_with_a_doc_comment_saying_what_it_is() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for folder in ["src", "shards"] {
        rust_files(&manifest.join(folder), &mut files);
    }
    let missing: Vec<String> = files
        .iter()
        .filter(|file| !std::fs::read_to_string(file).unwrap().trim_start().starts_with("//!"))
        .map(|file| file.strip_prefix(manifest).unwrap().display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a `//!` header: {missing:?}");
}
