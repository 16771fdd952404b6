//! Every relative link in README.md and docs/*.md points at a file or folder that exists in the repository.

use std::path::{Path, PathBuf};

/// Targets of the Markdown links `[text](target)` and images `![alt](target)` in `text`.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            targets.push(rest[..end].trim().to_owned());
            rest = &rest[end..];
        }
    }
    targets
}

fn is_relative(target: &str) -> bool {
    !(target.is_empty() || target.starts_with('#') || target.contains("://") || target.starts_with("mailto:"))
}

#[test]
fn relative_links_resolve() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf();
    let mut files: Vec<PathBuf> = vec![root.join("README.md")];
    let docs = std::fs::read_dir(root.join("docs")).expect("docs/");
    files.extend(docs.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "md")));
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a readable Markdown file");
        for target in link_targets(&text).into_iter().filter(|t| is_relative(t)) {
            let path = target.split('#').next().unwrap_or_default();
            checked += 1;
            if !file.parent().expect("a folder").join(path).exists() {
                broken.push(format!("{}: {target}", file.strip_prefix(&root).unwrap_or(file).display()));
            }
        }
    }
    assert!(checked > 20, "only {checked} relative links found: is the parser still right?");
    assert!(broken.is_empty(), "broken relative links:\n{}", broken.join("\n"));
}

#[test]
fn targets_are_found() {
    let text = "see [a](docs/a.md#x), ![chart](results/c.svg) and [web](https://example.com) and [top](#top)";
    assert_eq!(link_targets(text), ["docs/a.md#x", "results/c.svg", "https://example.com", "#top"]);
    assert!(is_relative("docs/a.md") && !is_relative("https://example.com") && !is_relative("#top"));
}
