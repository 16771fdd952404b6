//! docs/configuration.md is generated from the code: every flag and environment variable of `order-producer`,
//! `order-consumer` and `order-autoscaler` as clap declares them (help, default, accepted values), the lab's tools
//! by name (each prints its own options), and the variables and host ports of docker-compose.yml with their defaults.
//! The test fails when the file and the code disagree; `UPDATE_DOCS=1 cargo test -p doc-checks --test configuration`
//! writes it again. A default that README.md or docs/ state next to the option's name (`` `BATCH_SIZE` (default
//! 1000) ``, `` `BATCH_SIZE=1000` by default ``) must be one the code declares.

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

/// The defaults the generated configuration states, by flag (`--batch-size`) and variable (`BATCH_SIZE`). A name
/// several commands share keeps every default it has.
fn declared_defaults(configuration: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |name: &str, default: &str| {
        let list = out.entry(name.to_owned()).or_default();
        if !list.iter().any(|d| d == default) {
            list.push(default.to_owned());
        }
    };
    for row in configuration.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(|c| c.trim().trim_matches('`')).collect();
        match cells.as_slice() {
            // | `--flag` | `ENV` | `default` | meaning |
            [flag, env, default, _] if flag.starts_with("--") && *default != "–" => {
                add(flag, default);
                if *env != "–" {
                    add(env, default);
                }
            }
            // | `VAR` | `default` | read by |
            [var, default, _] if !default.starts_with('–') => add(var, default),
            _ => {}
        }
    }
    out
}

/// The defaults of the lab's tools' flags, from clap, added to `declared`.
fn with_lab_flags(mut declared: BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
    let lab = <lab::cli::Command as CommandFactory>::command();
    for tool in lab.get_subcommands() {
        for arg in tool.get_arguments() {
            let (Some(long), [default, ..]) = (arg.get_long(), arg.get_default_values()) else { continue };
            let list = declared.entry(format!("--{long}")).or_default();
            let default = default.to_string_lossy().into_owned();
            if !list.contains(&default) {
                list.push(default);
            }
        }
    }
    declared
}

/// A default as a comparable value: a duration in milliseconds (`10 s`, `10s`, `10000` for a `…_MS` or `…-ms`
/// name), a number, or the text.
fn normalise(name: &str, value: &str) -> String {
    let v = value.trim().trim_matches('`').replace(',', "");
    let words: Vec<&str> = v.split_whitespace().collect();
    let (number, unit) = match words.as_slice() {
        [n, u] => (*n, *u),
        [one] => {
            let split = one.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(one.len());
            (&one[..split], &one[split..])
        }
        _ => return v,
    };
    let Ok(x) = number.parse::<f64>() else { return v };
    let millis = name.ends_with("_MS") || name.ends_with("-ms");
    let factor = match unit {
        "ms" => 1.0,
        "s" => 1000.0,
        "min" => 60_000.0,
        "" if millis => 1.0,
        "" => return format!("{x}"),
        _ => return v,
    };
    format!("{}ms", x * factor)
}

/// `(line, name, value)` for each default a Markdown text states in prose: `` `NAME` (default 10 s) ``,
/// `` `--flag`, default `2s` ``, `` `NAME` at its default 10 s `` or `` `NAME=1000` by default ``. Fenced code is
/// skipped.
fn stated_defaults(text: &str) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(open) = rest.find('`') {
            let Some(close) = rest[open + 1..].find('`').map(|k| open + 1 + k) else { break };
            let code = &rest[open + 1..close];
            let after = &rest[close + 1..];
            rest = after;
            let (name, value) = code.split_once('=').map_or((code, None), |(n, v)| (n, Some(v)));
            let is_name = name.len() > 2
                && (name.starts_with("--") && name[2..].chars().all(|c| c.is_ascii_lowercase() || c == '-')
                    || name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'));
            if !is_name {
                continue;
            }
            if let Some(value) = value {
                if after.starts_with(" by default") {
                    out.push((index + 1, name.to_owned(), value.to_owned()));
                }
                continue;
            }
            // The same clause: up to 40 characters, no sentence or clause end, then "default".
            let clause: String = after.chars().take(40).take_while(|c| !matches!(c, '.' | ';' | '`')).collect();
            let Some(at) = clause.find("default ") else { continue };
            if clause[..at].contains("defaults") {
                continue;
            }
            let tail = &after[at + "default ".len()..];
            let tail = tail.strip_prefix("is ").unwrap_or(tail);
            let value = if let Some(code) = tail.strip_prefix('`') {
                code.split('`').next().unwrap_or_default().to_owned()
            } else {
                let words: Vec<&str> = tail.split_whitespace().take(2).collect();
                let first = words.first().map_or("", |w| w.trim_end_matches([',', ')', ';', ':', '.']));
                match words.get(1).map(|w| w.trim_end_matches([',', ')', ';', ':', '.'])) {
                    Some(unit @ ("ms" | "s" | "min")) => format!("{first} {unit}"),
                    _ => first.to_owned(),
                }
            };
            out.push((index + 1, name.to_owned(), value));
        }
    }
    out
}

/// Each stated default of `docs` that the code's defaults for that name do not include, as `file:line: …`.
fn wrong_defaults(docs: &[(String, String)], declared: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut findings = Vec::new();
    for (file, text) in docs {
        for (line, name, value) in stated_defaults(text) {
            let Some(defaults) = declared.get(&name) else { continue };
            let stated = normalise(&name, &value);
            if !defaults.iter().any(|d| normalise(&name, d) == stated) {
                findings.push(format!(
                    "{file}:{line}: says {name} defaults to {value}; the code's default: {}",
                    defaults.join(" or ")
                ));
            }
        }
    }
    findings
}

/// README.md and docs/*.md but the generated file itself.
fn prose_docs() -> Vec<(String, String)> {
    let mut names = vec!["README.md".to_owned()];
    let mut docs: Vec<String> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".md") && n != "configuration.md")
        .map(|n| format!("docs/{n}"))
        .collect();
    docs.sort();
    names.extend(docs);
    names
        .into_iter()
        .map(|n| {
            let text = std::fs::read_to_string(root().join(&n)).expect("a doc");
            (n, text)
        })
        .collect()
}

#[test]
fn defaults_the_docs_state_are_the_code_s() {
    // The lab's tools are listed by name only in the configuration; their flags' defaults come from clap.
    let declared = with_lab_flags(declared_defaults(&generated()));
    let docs = prose_docs();
    let stated: usize = docs.iter().map(|(_, text)| stated_defaults(text).len()).sum();
    let findings = wrong_defaults(&docs, &declared);
    assert!(findings.is_empty(), "defaults in the docs that the code does not have:\n{}", findings.join("\n"));
    assert!(stated >= 5, "only {stated} stated defaults found: is the reader still right?");
}

#[test]
fn a_default_that_differs_from_the_code_fails() {
    let declared = declared_defaults(
        "| `--batch-size` | `BATCH_SIZE` | `1000` | rows per batch |\n\
         | `--session-timeout-ms` | `SESSION_TIMEOUT_MS` | `10000` | … |\n\
         | `--count-every` | – | `2s` | … |\n\
         | `TOPIC_PARTITIONS` | `1` | kafka-init |\n",
    );
    let doc = "Batches: `BATCH_SIZE=1000` by default; the session timeout `SESSION_TIMEOUT_MS` at its default 10 s.\n\
               Counted at most once per `--count-every` (default `2s`); `TOPIC_PARTITIONS`, default 1.\n\
               Wrong: the default stays 500 for `BATCH_SIZE` is not a claim, but `BATCH_SIZE` (default 500) is;\n\
               `SESSION_TIMEOUT_MS`, default 45 s; `--count-every` (default `5s`); `BATCH_SIZE=500` by default.\n\
               ```sh\nBATCH_SIZE=7 # `BATCH_SIZE` (default 7) in code is not read\n```\n";
    let findings = wrong_defaults(&[("doc.md".to_owned(), doc.to_owned())], &declared);
    assert_eq!(
        findings,
        [
            "doc.md:3: says BATCH_SIZE defaults to 500; the code's default: 1000",
            "doc.md:4: says SESSION_TIMEOUT_MS defaults to 45 s; the code's default: 10000",
            "doc.md:4: says --count-every defaults to 5s; the code's default: 2s",
            "doc.md:4: says BATCH_SIZE defaults to 500; the code's default: 1000",
        ]
    );
    assert_eq!(stated_defaults(doc).len(), 8);
}
