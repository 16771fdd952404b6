//! Rebuilds the consumer when a migration is added or changed: `sqlx::migrate!` embeds the migrations at compile
//! time, and on stable Rust cargo does not otherwise know the binary depends on that folder.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
