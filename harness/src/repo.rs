//! The repository a tool runs in: where the release binaries are and where runs write their results. Found once,
//! here, for every tool.

use std::path::{Path, PathBuf};

/// The repository's root folder.
#[derive(Debug, Clone)]
pub struct Repo {
    pub root: PathBuf,
}

impl Repo {
    /// `ROOT_DIR` (the scripts export it), else the folder that holds `target/` when the running binary is one of
    /// its builds, else the current folder.
    pub fn find() -> Self {
        if let Some(root) = std::env::var_os("ROOT_DIR") {
            return Self { root: PathBuf::from(root) };
        }
        let built_here = std::env::current_exe().ok().and_then(|exe| {
            let target = exe.ancestors().find(|a| a.file_name().is_some_and(|n| n == "target"))?.to_owned();
            target.parent().map(Path::to_owned)
        });
        Self { root: built_here.unwrap_or_else(|| PathBuf::from(".")) }
    }

    /// A binary of `cargo build --release` (`order-consumer`, `order-producer`, `order-autoscaler`).
    pub fn binary(&self, name: &str) -> PathBuf {
        self.root.join("target/release").join(name)
    }

    /// The local stack's folder: `LOCAL_DIR` (the scripts export it), else `.local/` in the repository.
    pub fn local(&self) -> PathBuf {
        std::env::var_os("LOCAL_DIR").map_or_else(|| self.root.join(".local"), PathBuf::from)
    }

    /// `results/<kind>-<UTC time>`: where a run writes unless told otherwise.
    pub fn results(&self, kind: &str) -> PathBuf {
        self.root.join("results").join(format!("{kind}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")))
    }
}
