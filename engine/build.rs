//! Embeds the builtin templates (`builtin-templates/<key>/`): writes a table
//! of every file's package path and contents (through `include_str!`) for
//! `template::builtin`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push((rel.to_string_lossy().replace('\\', "/"), path.clone()));
        }
    }
}

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir.join("../builtin-templates");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut code = String::from("&[\n");
    let mut templates: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    templates.sort();
    for dir in templates {
        let key = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut list = Vec::new();
        files(&dir, &dir, &mut list);
        list.sort();
        let _ = writeln!(code, "    ({key:?}, &[");
        for (rel, path) in list {
            println!("cargo:rerun-if-changed={}", path.display());
            let _ = writeln!(
                code,
                "        ({rel:?}, include_str!({:?})),",
                path.display().to_string()
            );
        }
        code.push_str("    ]),\n");
    }
    code.push_str("]\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("builtin_templates.rs");
    if let Err(e) = std::fs::write(&out, code) {
        panic!("cannot write {}: {e}", out.display());
    }
}
