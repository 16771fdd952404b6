//! docs/configuration.md is generated from the code: every flag and environment variable of `order-producer`,
//! `order-consumer` and `order-autoscaler` as clap declares them (help, default, accepted values), the lab's tools
//! by name (each prints its own options), and the variables and host ports of docker-compose.yml with their defaults.
//! The test fails when the file and the code disagree; `UPDATE_DOCS=1 cargo test -p doc-checks --test configuration`
//! writes it again.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use yaml_rust2::{Yaml, YamlLoader};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

/// One binary's options as a table.
fn options(command: &clap::Command) -> String {
    let mut out = String::from("| flag | environment | default | meaning |\n|---|---|---|---|\n");
    for arg in command.get_arguments().filter(|a| !a.is_hide_set() && a.get_long().is_some()) {
        let long = arg.get_long().unwrap_or_default();
        if long == "help" || long == "version" {
            continue;
        }
        let env = arg.get_env().map(|e| format!("`{}`", e.to_string_lossy())).unwrap_or_else(|| "–".into());
        let defaults: Vec<String> = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
        let default = if defaults.is_empty() || defaults.iter().all(String::is_empty) {
            "–".to_owned()
        } else {
            format!("`{}`", defaults.join(","))
        };
        let mut meaning = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
        let values: Vec<String> =
            arg.get_possible_values().iter().filter(|v| !v.is_hide_set()).map(|v| v.get_name().to_owned()).collect();
        // The accepted values, unless a switch (true, false) or named in the help already.
        if !values.is_empty() && values != ["true", "false"] && !values.iter().all(|v| meaning.contains(v.as_str())) {
            meaning = format!("{}; one of: {}", meaning.trim_end_matches('.'), values.join(", "));
        }
        writeln!(out, "| `--{long}` | {env} | {default} | {} |", cell(&meaning)).unwrap();
    }
    out
}

/// `${NAME}`, `${NAME:-default}` and `${NAME:?message}` in `text`, with the default when one is given.
fn variables(text: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(end) = rest[start..].find('}') else { break };
        let inner = &rest[start + 2..start + end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default.to_owned())),
            None => (inner.split(":?").next().unwrap_or(inner), None),
        };
        out.push((name.to_owned(), default));
        rest = &rest[start + end + 1..];
    }
    out
}

/// Every string under `yaml`.
fn strings(yaml: &Yaml, out: &mut Vec<String>) {
    match yaml {
        Yaml::String(s) => out.push(s.clone()),
        Yaml::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Yaml::Hash(map) => map.iter().for_each(|(k, v)| {
            strings(k, out);
            strings(v, out);
        }),
        _ => {}
    }
}

/// docker-compose.yml's variables (default, services that read them) and each service's host ports.
fn compose() -> String {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).expect("docker-compose.yml");
    let doc = &YamlLoader::load_from_str(&text).expect("docker-compose.yml is YAML")[0];
    let services = doc["services"].as_hash().expect("services");
    let mut vars: BTreeMap<String, (Option<String>, Vec<String>)> = BTreeMap::new();
    let mut ports = String::new();
    for (name, service) in services {
        let name = name.as_str().expect("a service's name").to_owned();
        let mut texts = Vec::new();
        strings(service, &mut texts);
        for (var, default) in texts.iter().flat_map(|t| variables(t)) {
            let entry = vars.entry(var).or_default();
            if entry.0.is_none() {
                entry.0 = default;
            }
            if !entry.1.contains(&name) {
                entry.1.push(name.clone());
            }
        }
        for port in service["ports"].as_vec().into_iter().flatten().filter_map(Yaml::as_str) {
            writeln!(ports, "| `{name}` | `{port}` |").unwrap();
        }
    }
    let mut out = String::from("| variable | default | read by |\n|---|---|---|\n");
    for (var, (default, users)) in &vars {
        let default = default.as_deref().map_or_else(|| "– (required or empty)".to_owned(), |d| format!("`{d}`"));
        writeln!(out, "| `{var}` | {default} | {} |", users.join(", ")).unwrap();
    }
    out.push_str("\nHost ports, published on 127.0.0.1 only:\n\n| service | ports |\n|---|---|\n");
    out.push_str(&ports);
    out
}

fn generated() -> String {
    let mut out = String::from(
        "# Configuration\n\n<!-- Generated from the code by doc-checks/tests/configuration.rs; do not edit. Write it \
         again with: UPDATE_DOCS=1 cargo test -p doc-checks --test configuration -->\n\n\
         Every option is a flag and an environment variable; the defaults work against the local stack. An option \
         whose name ends in `-ms` takes milliseconds, or a duration with its unit (`250ms`, `2s`); other durations \
         want their unit (`10s`). Secrets (passwords in URLs, `sasl.password`) are never logged.\n",
    );
    let binaries = [
        order_producer::ProducerSettings::command(),
        order_consumer::ConsumerSettings::command(),
        order_autoscaler::config::AutoscalerSettings::command(),
    ];
    for command in &binaries {
        let about = command.get_about().map(|a| a.to_string()).unwrap_or_default();
        write!(out, "\n## {}\n\n{about}\n\n{}", command.get_name(), options(command)).unwrap();
    }
    let lab = <lab::cli::Command as CommandFactory>::command();
    out.push_str(
        "\n## lab\n\nThe tools around the pipeline, one subcommand each; `scripts/lab.sh TOOL --help` prints a \
         tool's options.\n\n| tool | what it does |\n|---|---|\n",
    );
    for tool in lab.get_subcommands() {
        let about = tool.get_about().map(|a| a.to_string()).unwrap_or_default();
        writeln!(out, "| `{}` | {} |", tool.get_name(), cell(&about)).unwrap();
    }
    write!(
        out,
        "\n## docker-compose.yml\n\nVariables the compose file reads (from the shell or `.env`):\n\n{}",
        compose()
    )
    .unwrap();
    out
}

#[test]
fn configuration_md_is_what_the_code_declares() {
    let path = root().join("docs/configuration.md");
    let want = generated();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).expect("write docs/configuration.md");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/configuration.md differs from the code's options; write it again with:\n  \
         UPDATE_DOCS=1 cargo test -p doc-checks --test configuration"
    );
}

#[test]
fn compose_variables_are_read_with_their_defaults() {
    assert_eq!(
        variables("${A:-1}:${B} ${C:?set C}"),
        [("A".to_owned(), Some("1".to_owned())), ("B".to_owned(), None), ("C".to_owned(), None)]
    );
}
