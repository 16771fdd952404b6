//! docker-compose.yml against the local stack (scripts/stack.sh), with no Docker engine: both compose files are
//! valid for the compose CLI the machine has, and the compose stack runs the local stack's Kafka version
//! (stack/kafka/pom.xml) with its broker settings (stack/kafka/server.properties), creates the same topics, database
//! and roles with the same default passwords (the `shared` crate's constants and scripts/lib/common.sh), and runs
//! no container as root.
//!
//! The compose file is read with its documented defaults: `${VAR:-default}` reads as `default`, whatever a local
//! `.env` says. Every check is printed as `ok` or `FAIL` with what it compared; a failure names what differs.

use std::path::{Path, PathBuf};

use harness::compose::Compose;
use shared::secret::redact_url;
use yaml_rust2::{Yaml, YamlLoader};

/// Broker settings whose values differ by design: addresses (container names against 127.0.0.1) and each stack's
/// own data folder.
const LOCAL_ONLY: [&str; 5] =
    ["listeners", "advertised.listeners", "listener.security.protocol.map", "log.dirs", "controller.quorum.voters"];

/// Compose-only broker variables: the JVM's heap, and the same addresses and data folder as [`LOCAL_ONLY`].
const COMPOSE_ONLY: [&str; 6] = [
    "KAFKA_HEAP_OPTS",
    "KAFKA_LISTENERS",
    "KAFKA_ADVERTISED_LISTENERS",
    "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
    "KAFKA_LOG_DIRS",
    "KAFKA_CONTROLLER_QUORUM_VOTERS",
];

/// The volume that has the Postgres image run the file scripts/stack.sh up runs.
const ROLE_SQL_VOLUME: &str = "./stack/postgres/orders-app.sql:/docker-entrypoint-initdb.d/";

fn root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().unwrap_or(root)
}

fn read(root: &Path, file: &str) -> String {
    std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("cannot read {file}: {e}"))
}

/// The local stack, from the files scripts/stack.sh reads and the constants the binaries default to.
#[derive(Debug)]
struct Local {
    /// `kafka.version` in stack/kafka/pom.xml: the jars the local broker runs.
    kafka_version: String,
    /// The major version of the newest PostgreSQL server installed (`/usr/lib/postgresql/<major>/bin/initdb`),
    /// when there is one.
    pg_major: Option<String>,
    topic: String,
    dlq: String,
    group: String,
    /// Database, owner and owner's password, from `shared::DEFAULT_DATABASE_URL`.
    db: String,
    user: String,
    password: String,
    /// `orders_app`'s default password: `POSTGRES_APP_PASSWORD` in scripts/lib/common.sh (no constant has it).
    app_password: String,
    /// stack/kafka/server.properties, in the file's order.
    broker: Vec<(String, String)>,
    /// scripts/lib/common.sh, whose defaults the scripts use.
    common_sh: String,
    stack_sh: String,
    dockerfile: String,
}

impl Local {
    fn read(root: &Path) -> Self {
        let pom = read(root, "stack/kafka/pom.xml");
        let kafka_version = pom
            .lines()
            .find_map(|l| l.trim().strip_prefix("<kafka.version>")?.strip_suffix("</kafka.version>"))
            .expect("stack/kafka/pom.xml has a <kafka.version> line")
            .to_owned();
        let (user, password, db) = url_parts(shared::DEFAULT_DATABASE_URL)
            .expect("shared::DEFAULT_DATABASE_URL is postgres://user:password@host:port/database");
        let common_sh = read(root, "scripts/lib/common.sh");
        Self {
            kafka_version,
            pg_major: newest_postgres(Path::new("/usr/lib/postgresql")),
            topic: shared::ORDERS_TOPIC.to_owned(),
            dlq: shared::DLQ_TOPIC.to_owned(),
            group: shared::CONSUMER_GROUP.to_owned(),
            db,
            user,
            password,
            app_password: script_default(&common_sh, "POSTGRES_APP_PASSWORD"),
            broker: properties(&read(root, "stack/kafka/server.properties")),
            common_sh,
            stack_sh: read(root, "scripts/stack.sh"),
            dockerfile: read(root, "Dockerfile"),
        }
    }
}

/// `(user, password, database)` of `postgres://user:password@host:port/database`.
fn url_parts(url: &str) -> Option<(String, String, String)> {
    let (credentials, place) = url.strip_prefix("postgres://")?.split_once('@')?;
    let (user, password) = credentials.split_once(':')?;
    let (_, db) = place.split_once('/')?;
    Some((user.to_owned(), password.to_owned(), db.to_owned()))
}

/// The default of `NAME="${NAME:-default}"` in a script (scripts/lib/common.sh).
fn script_default(script: &str, name: &str) -> String {
    let prefix = format!("{name}=\"${{{name}:-");
    script
        .lines()
        .find_map(|l| l.trim().strip_prefix(&prefix)?.strip_suffix("}\""))
        .unwrap_or_else(|| panic!("scripts/lib/common.sh has no line {name}=\"${{{name}:-…}}\""))
        .to_owned()
}

/// The major version of the newest `<dir>/<major>/bin/initdb` (Debian's layout), as scripts/stack.sh picks it.
fn newest_postgres(dir: &Path) -> Option<String> {
    let version = |name: &str| name.split('.').map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("bin/initdb").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .max_by_key(|name| version(name))
}

/// `key=value` lines of a Java properties file, in order; comments and blank lines skipped.
fn properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("stack/kafka/server.properties: no '=' in {l:?}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// `text` with every `${VAR:-default}` replaced by its default; `${VAR}` and anything else left as written.
fn with_defaults(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let name_len = after.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(after.len());
        let default =
            (name_len > 0).then(|| after[name_len..].strip_prefix(":-")).flatten().and_then(|d| d.split_once('}'));
        match default {
            Some((default, next)) => {
                out.push_str(default);
                rest = next;
            }
            None => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A scalar as compose reads it into a string; `None` for a missing key, a null or a collection.
fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A mapping's keys with their scalar values, in order (a service's `environment`); empty when not a mapping.
fn entries(mapping: &Yaml) -> Vec<(String, Option<String>)> {
    mapping.as_hash().into_iter().flatten().filter_map(|(k, v)| Some((scalar(k)?, scalar(v)))).collect()
}

/// The value of `key` in [`entries`].
fn get<'a>(entries: &'a [(String, Option<String>)], key: &str) -> Option<&'a str> {
    entries.iter().find(|(k, _)| k == key).and_then(|(_, v)| v.as_deref())
}

fn shown(value: Option<&str>) -> &str {
    value.unwrap_or("unset")
}

/// Every comparison made, in order, each `ok` or not, with what it compared.
#[derive(Debug, Default)]
struct Checks {
    lines: Vec<(bool, String)>,
}

impl Checks {
    fn check(&mut self, ok: bool, what: impl Into<String>) {
        self.lines.push((ok, what.into()));
    }

    fn failures(&self) -> Vec<&str> {
        self.lines.iter().filter(|(ok, _)| !ok).map(|(_, what)| what.as_str()).collect()
    }

    fn report(&self) -> String {
        let mut text: String =
            self.lines.iter().map(|(ok, what)| format!("{}  {what}\n", if *ok { "ok  " } else { "FAIL" })).collect();
        text.push_str(&format!("stack parity: {} difference(s)", self.failures().len()));
        text
    }
}

/// The scripts' defaults (scripts/lib/common.sh) against the binaries' (the `shared` crate's constants): the
/// local stack that scripts/stack.sh makes is the one the binaries reach by default.
fn scripts_agree_with_shared(local: &Local, checks: &mut Checks) {
    let common = |name: &str| script_default(&local.common_sh, name);
    for (name, value) in [("ORDERS_TOPIC", &local.topic), ("DLQ_TOPIC", &local.dlq), ("CONSUMER_GROUP", &local.group)] {
        let script = common(name);
        let what = format!("scripts/lib/common.sh's {name}={script} is shared::{name}");
        checks.check(script == *value, if script == *value { what } else { format!("{what} ({value})") });
    }
    let url = format!(
        "postgres://{}:{}@{}:{}/{}",
        common("POSTGRES_USER"),
        common("POSTGRES_PASSWORD"),
        common("PGHOST"),
        common("PGPORT"),
        common("POSTGRES_DB")
    );
    // Printed without the password, as the binaries print URLs; a difference there is named, not shown.
    let (shown_url, wanted) = (redact_url(&url), shared::DEFAULT_DATABASE_URL);
    let what = format!("scripts/lib/common.sh's database URL {shown_url} is shared::DEFAULT_DATABASE_URL");
    let detail = if common("POSTGRES_PASSWORD") != local.password { "; the passwords differ" } else { "" };
    let ok = url == wanted;
    checks.check(ok, if ok { what } else { format!("{what} ({}{detail})", redact_url(wanted)) });
}

/// docker-compose.yml (its text) against the local stack.
fn parity(compose_text: &str, local: &Local) -> Checks {
    let mut checks = Checks::default();
    let docs = YamlLoader::load_from_str(&with_defaults(compose_text)).expect("docker-compose.yml is YAML");
    let compose = docs.first().expect("docker-compose.yml has a document");
    let services = &compose["services"];
    let version = &local.kafka_version;

    for name in ["kafka", "kafka-init"] {
        let image = scalar(&services[name]["image"]);
        checks.check(
            image.as_deref() == Some(&format!("apache/kafka:{version}")),
            format!("{name} image {} is Kafka {version} (stack/kafka/pom.xml)", shown(image.as_deref())),
        );
    }

    let env = entries(&services["kafka"]["environment"]);
    for (key, value) in local.broker.iter().filter(|(k, _)| !LOCAL_ONLY.contains(&k.as_str())) {
        let env_key = format!("KAFKA_{}", key.to_uppercase().replace('.', "_"));
        let compose_value = get(&env, &env_key);
        checks.check(
            compose_value == Some(value.as_str()),
            format!("broker setting {key}={value} (compose {env_key}={})", shown(compose_value)),
        );
    }
    for (env_key, _) in env.iter().filter(|(k, _)| !COMPOSE_ONLY.contains(&k.as_str())) {
        let key = env_key.strip_prefix("KAFKA_").unwrap_or(env_key).to_lowercase().replace('_', ".");
        checks.check(
            local.broker.iter().any(|(k, _)| *k == key),
            format!("compose {env_key} is also set in stack/kafka/server.properties"),
        );
    }
    checks.check(
        local.broker.iter().any(|(k, _)| k == "controller.quorum.voters")
            && env.iter().any(|(k, _)| k == "KAFKA_CONTROLLER_QUORUM_VOTERS"),
        "both stacks use a static single-node KRaft quorum",
    );

    let command = &services["kafka-init"]["command"];
    let init = match command.as_vec() {
        Some(parts) => parts.iter().filter_map(scalar).collect::<Vec<_>>().join(" "),
        None => scalar(command).unwrap_or_default(),
    };
    for (topic, by_default) in [(&local.topic, " by default"), (&local.dlq, "")] {
        checks.check(
            init.contains(&format!("--topic {topic} --partitions 1 ")),
            format!("compose creates {topic} with 1 partition{by_default}, as scripts/stack.sh up does"),
        );
    }

    let (db, user, password, app_password) = (&local.db, &local.user, &local.password, &local.app_password);
    let postgres = &services["postgres"];
    let pg_env = entries(&postgres["environment"]);
    checks.check(
        get(&pg_env, "POSTGRES_DB") == Some(db) && get(&pg_env, "POSTGRES_USER") == Some(user),
        format!(
            "database {db}, user {user} (compose POSTGRES_DB={}, POSTGRES_USER={})",
            shown(get(&pg_env, "POSTGRES_DB")),
            shown(get(&pg_env, "POSTGRES_USER"))
        ),
    );
    checks.check(
        get(&pg_env, "POSTGRES_PASSWORD") == Some(password),
        "the default password matches the local stack's (set it in .env to change both)",
    );
    if let Some(major) = &local.pg_major {
        let image = scalar(&postgres["image"]).unwrap_or_default();
        let tag = image.split(':').nth(1).unwrap_or_default();
        let image_major = tag.split('.').next().unwrap_or_default().split('-').next().unwrap_or_default();
        checks.check(
            image_major == major,
            format!("postgres image {image} has the local server's major version {major}"),
        );
    }

    let consumer = entries(&services["order-consumer"]["environment"]);
    checks.check(
        get(&consumer, "KAFKA_TOPIC") == Some(&local.topic)
            && get(&consumer, "DLQ_TOPIC") == Some(&local.dlq)
            && get(&consumer, "CONSUMER_GROUP") == Some(&local.group),
        format!(
            "consumers read {}, dead-letter to {}, in group {} (compose KAFKA_TOPIC={}, DLQ_TOPIC={}, CONSUMER_GROUP={})",
            local.topic,
            local.dlq,
            local.group,
            shown(get(&consumer, "KAFKA_TOPIC")),
            shown(get(&consumer, "DLQ_TOPIC")),
            shown(get(&consumer, "CONSUMER_GROUP"))
        ),
    );
    checks.check(
        get(&consumer, "DATABASE_URL") == Some(&format!("postgres://orders_app:{app_password}@postgres:5432/{db}")),
        "consumers work as orders_app, with the local stack's default password (docs/security.md)",
    );
    checks.check(
        get(&consumer, "MIGRATION_DATABASE_URL") == Some(&format!("postgres://{user}:{password}@postgres:5432/{db}")),
        format!("consumers migrate as the owner {user}, in the same database"),
    );
    checks.check(
        get(&pg_env, "POSTGRES_APP_PASSWORD") == Some(app_password),
        "orders_app's default password matches the local stack's",
    );
    let volumes = postgres["volumes"].as_vec().map(Vec::as_slice).unwrap_or_default();
    checks.check(
        volumes.iter().filter_map(Yaml::as_str).any(|v| v.starts_with(ROLE_SQL_VOLUME)),
        "compose creates orders_app from stack/postgres/orders-app.sql, the file scripts/stack.sh up runs",
    );
    checks.check(
        local.stack_sh.contains("stack/postgres/orders-app.sql"),
        "scripts/stack.sh up runs stack/postgres/orders-app.sql",
    );

    // Non-root: the image's final USER is a numeric non-zero uid, and no service switches back to root.
    let final_stage = local.dockerfile.rsplit("\nFROM ").next().unwrap_or_default();
    let image_user = final_stage
        .lines()
        .filter_map(|l| l.strip_prefix("USER").filter(|u| u.starts_with(char::is_whitespace)))
        .filter_map(|u| u.split_whitespace().next())
        .next_back();
    let uid = image_user.and_then(|u| u.split(':').next()?.parse::<u32>().ok());
    checks.check(
        uid.is_some_and(|uid| uid != 0),
        format!("the image runs as a numeric non-root user (Dockerfile USER {})", image_user.unwrap_or("missing")),
    );
    for (name, service) in services.as_hash().into_iter().flatten() {
        let name = scalar(name).unwrap_or_default();
        let user = scalar(&service["user"]).unwrap_or_default();
        let root_user = matches!(user.split(':').next(), Some("0" | "root"));
        let privileged = !matches!(service["privileged"], Yaml::BadValue | Yaml::Null | Yaml::Boolean(false));
        checks.check(
            !root_user && !privileged,
            format!("{name} is not set to run as root or privileged (user {user:?}, privileged {privileged})"),
        );
    }
    let scaled = &services["order-consumer"];
    checks.check(
        scaled["container_name"].is_badvalue() && scaled["ports"].is_badvalue(),
        "order-consumer scales: no container_name, no host port",
    );
    let producer_topic = get(&entries(&services["order-producer"]["environment"]), "KAFKA_TOPIC").map(str::to_owned);
    checks.check(
        producer_topic.as_deref() == Some(&local.topic),
        format!("the producer writes to {} (compose KAFKA_TOPIC={})", local.topic, shown(producer_topic.as_deref())),
    );
    checks
}

/// What fails when docker-compose.yml's text is `compose` instead.
fn differences(compose: &str, local: &Local) -> Vec<String> {
    parity(compose, local).failures().into_iter().map(str::to_owned).collect()
}

fn real_compose() -> String {
    read(&root(), "docker-compose.yml")
}

/// `text` with `from` (which must occur once) replaced by `to`.
fn edited(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} occurs once in docker-compose.yml");
    text.replace(from, to)
}

#[test]
fn compose_agrees_with_the_local_stack() {
    let local = Local::read(&root());
    let mut checks = Checks::default();
    scripts_agree_with_shared(&local, &mut checks);
    checks.lines.extend(parity(&real_compose(), &local).lines);
    let report = checks.report();
    eprintln!("{report}");
    let failures = checks.failures();
    assert!(failures.is_empty(), "docker-compose.yml and the local stack differ:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn both_compose_files_are_valid() {
    let root = root();
    let compose = Compose::find(&root, Vec::new()).unwrap_or_else(|_| {
        panic!(
            "neither `docker compose` nor `docker-compose` is available (or COMPOSE_CLI is empty): install \
             docker-compose (Debian: apt-get install docker-compose), which validates compose files with no Docker engine"
        )
    });
    let secrets = root.join("docker-compose.secrets.yml").display().to_string();
    for args in [&["config", "-q"][..], &["-f", &secrets, "config", "-q"]] {
        compose.output(args, true).await.unwrap_or_else(|e| panic!("{e:#}"));
    }
}

#[test]
fn defaults_read_as_documented() {
    assert_eq!(with_defaults("a: ${A:-1}\nb: ${B}\nc: ${C:-}x\nd: ${:-3}"), "a: 1\nb: ${B}\nc: x\nd: ${:-3}");
    assert_eq!(with_defaults("image: ${KAFKA_IMAGE:-apache/kafka:4.1.1}"), "image: apache/kafka:4.1.1");
}

#[test]
fn a_changed_broker_setting_is_named() {
    let compose = edited(&real_compose(), "KAFKA_NUM_PARTITIONS: 1\n", "KAFKA_NUM_PARTITIONS: 3\n");
    assert_eq!(
        differences(&compose, &Local::read(&root())),
        ["broker setting num.partitions=1 (compose KAFKA_NUM_PARTITIONS=3)"]
    );
}

#[test]
fn a_broker_setting_only_compose_sets_is_named() {
    let compose = edited(
        &real_compose(),
        "KAFKA_NUM_PARTITIONS: 1\n",
        "KAFKA_NUM_PARTITIONS: 1\n      KAFKA_MESSAGE_MAX_BYTES: 2097152\n",
    );
    assert_eq!(
        differences(&compose, &Local::read(&root())),
        ["compose KAFKA_MESSAGE_MAX_BYTES is also set in stack/kafka/server.properties"]
    );
}

#[test]
fn another_kafka_version_is_named() {
    let local = Local { kafka_version: "4.0.0".into(), ..Local::read(&root()) };
    assert_eq!(
        differences(&real_compose(), &local),
        [
            "kafka image apache/kafka:4.1.1 is Kafka 4.0.0 (stack/kafka/pom.xml)",
            "kafka-init image apache/kafka:4.1.1 is Kafka 4.0.0 (stack/kafka/pom.xml)"
        ]
    );
}

#[test]
fn another_default_password_is_named() {
    let compose = real_compose().replace("${POSTGRES_PASSWORD:-kafka_pass}", "${POSTGRES_PASSWORD:-changed}");
    assert_eq!(
        differences(&compose, &Local::read(&root())),
        [
            "the default password matches the local stack's (set it in .env to change both)",
            "consumers migrate as the owner kafka_user, in the same database"
        ]
    );
}

#[test]
fn a_topic_made_differently_is_named() {
    let compose =
        edited(&real_compose(), "--topic food-orders.dlq --partitions 1", "--topic food-orders.dlq --partitions 3");
    assert_eq!(
        differences(&compose, &Local::read(&root())),
        ["compose creates food-orders.dlq with 1 partition, as scripts/stack.sh up does"]
    );
}

#[test]
fn a_service_as_root_is_named() {
    let compose = edited(&real_compose(), "\n  kafka-init:\n", "\n  kafka-init:\n    user: root\n");
    assert_eq!(
        differences(&compose, &Local::read(&root())),
        [r#"kafka-init is not set to run as root or privileged (user "root", privileged false)"#]
    );
    let compose = edited(&real_compose(), "\n  grafana:\n", "\n  grafana:\n    privileged: true\n");
    assert_eq!(
        differences(&compose, &Local::read(&root())),
        [r#"grafana is not set to run as root or privileged (user "", privileged true)"#]
    );
}

#[test]
fn a_scripts_default_unlike_the_binaries_is_named() {
    let mut local = Local::read(&root());
    local.common_sh =
        local.common_sh.replace(r#"DLQ_TOPIC="${DLQ_TOPIC:-food-orders.dlq}""#, r#"DLQ_TOPIC="${DLQ_TOPIC:-dead}""#);
    let mut checks = Checks::default();
    scripts_agree_with_shared(&local, &mut checks);
    assert_eq!(checks.failures(), ["scripts/lib/common.sh's DLQ_TOPIC=dead is shared::DLQ_TOPIC (food-orders.dlq)"]);

    let mut local = Local::read(&root());
    local.common_sh = local.common_sh.replace(r#"${POSTGRES_PASSWORD:-kafka_pass}"#, r#"${POSTGRES_PASSWORD:-other}"#);
    let mut checks = Checks::default();
    scripts_agree_with_shared(&local, &mut checks);
    let url = "postgres://kafka_user:***@127.0.0.1:5432/food_orders";
    let failure = format!(
        "scripts/lib/common.sh's database URL {url} is shared::DEFAULT_DATABASE_URL ({url}; the passwords differ)"
    );
    assert_eq!(checks.failures(), [failure.as_str()]);
}
