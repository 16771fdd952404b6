//! The repository's documentation checked against the repository itself; the checks are this crate's tests
//! (`cargo test -p doc-checks`):
//! - `tests/docs_figures.rs`: every figure README.md and docs/ quote from a run is traced to that run's kept files.
//! - `tests/docs_links.rs`: every relative link points at a file that exists.
//! - `tests/architecture_picture.rs`: docs/architecture.md's picture of the workspace matches the crates.
