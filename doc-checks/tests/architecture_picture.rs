//! docs/architecture.md's picture of the workspace matches the crates: every member of Cargo.toml with its package
//! name, every dependency on `shared`, and every binary, no more and no fewer.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The value of `key = "value"` in the first line of `toml` that sets it.
fn string_value(toml: &str, key: &str) -> Option<String> {
    toml.lines()
        .find_map(|l| l.trim().strip_prefix(key)?.trim().strip_prefix('=').map(str::trim))
        .map(|v| v.trim_matches('"').to_owned())
}

/// The lines of `toml` between `[section]` and the next section header.
fn section<'a>(toml: &'a str, name: &str) -> Vec<&'a str> {
    let header = format!("[{name}]");
    toml.lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim().starts_with('['))
        .filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
        .collect()
}

/// The workspace picture: the mermaid block under "## The workspace".
fn picture() -> String {
    let doc = read(&root().join("docs/architecture.md"));
    let from = doc.find("## The workspace").expect("a '## The workspace' section");
    let block = &doc[from..];
    let start = block.find("```mermaid").expect("a mermaid block") + "```mermaid".len();
    let end = block[start..].find("```").expect("the block ends") + start;
    block[start..end].to_owned()
}

#[test]
fn the_workspace_picture_matches_the_crates() {
    let root = root();
    let workspace = read(&root.join("Cargo.toml"));
    let members_line = workspace.lines().find(|l| l.trim_start().starts_with("members")).expect("members");
    let members: Vec<&str> = members_line
        .split('[')
        .nth(1)
        .unwrap()
        .trim_end_matches(']')
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .collect();
    let picture = picture();

    let mut binaries = BTreeSet::new();
    for member in &members {
        let manifest = read(&root.join(member).join("Cargo.toml"));
        let package = string_value(&manifest, "name").expect("package name");
        if package != *member {
            assert!(picture.contains(&format!("{member}<br/>package {package}")), "{member} is package {package}");
        }
        for dependency in section(&manifest, "dev-dependencies") {
            let name = dependency.split(['.', '=', ' ']).next().unwrap();
            // The picture draws the workspace: a dev-dependency on an outside crate (an HTTP client) is not in it.
            let Some(target) = members
                .iter()
                .find(|m| string_value(&read(&root.join(m).join("Cargo.toml")), "name").as_deref() == Some(name))
            else {
                continue;
            };
            // A mermaid node's id is the member's folder without its hyphens (`doc-checks` is `docchecks`).
            let (node, target) = (member.replace('-', ""), target.replace('-', ""));
            let arrows: Vec<&str> = picture
                .lines()
                .filter(|l| l.trim().starts_with(&format!("{node} -.->")) && l.contains("dev-dependency"))
                .collect();
            assert!(!arrows.is_empty(), "{member}'s dev-dependency");
            assert!(
                arrows.iter().any(|l| l.split('|').nth(2).is_some_and(|to| to.split('&').any(|t| t.trim() == target))),
                "{member}'s dev-dependency on {target}"
            );
        }
        if root.join(member).join("src/main.rs").exists() {
            binaries.insert(package.clone());
        }
        if let Ok(bins) = std::fs::read_dir(root.join(member).join("src/bin")) {
            for bin in bins {
                let path = bin.unwrap().path();
                binaries.insert(path.file_stem().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    for member in &members {
        let manifest = read(&root.join(member).join("Cargo.toml"));
        let depends = section(&manifest, "dependencies").iter().any(|d| d.trim().starts_with("shared."));
        let drawn = picture.contains(&format!("{member} -->|depends on| shared"));
        assert_eq!(depends, drawn, "{member}: the picture's dependency on shared matches Cargo.toml");
    }

    let drawn: BTreeSet<String> =
        picture.split("([\"").skip(1).map(|rest| rest.split('"').next().unwrap().to_owned()).collect();
    assert_eq!(drawn, binaries, "the binaries in the picture are the workspace's binaries");
}
