//! Every figure that README.md and docs/*.md quote from a recorded run is the value of a named field of that run's
//! kept files.
//!
//! # The convention
//!
//! A figure quoted from a recorded run sits in a *figures scope*, opened by an HTML comment on a line of its own
//! that names the kept files it comes from, relative to the Markdown file (a folder: every `.json`, `.md`, `.csv`
//! and `.txt` file in it, recursively), and after `fields:` the fields of those files its figures come from:
//!
//! ```text
//! <!-- figures: results/bench-20261125T203723Z/ benchmarks.json fields: median_rows_per_s p99_ms "wall time" -->
//! ```
//!
//! A field is named by a JSON key or the dotted end of its path (`group1.p99_ms`), a CSV column, the key of a
//! `key=value` pair in text (`one.median_rows_per_s=46382`, `in_flight=1000`), a column of a table in a text file
//! (a Markdown or psql table under its `---` line, or columns aligned under an upper-case header, as Kafka's tools
//! print them: `CURRENT-OFFSET`), or else a phrase in quotes that the line of text holding the value contains.
//!
//! The scope ends at the next heading of any level, the next `<!-- figures: … -->` or `<!-- /figures -->`. Inside
//! it, every number in prose, lists and table cells must be *traced*: a value of a named field, rounded to as many
//! decimals as the doc wrote, equals it (11.61 is traced by 11.6071, 27,164 by 27164); a figure in MiB or GiB is also
//! traced by a field named `…_kib` (21388 KiB is 20.9 MiB). A figure that only an unnamed field holds fails, and the
//! finding says which field holds it; a named field that holds nothing, or that no figure of the scope comes from,
//! fails too; a scope with figures and no `fields:` fails with the fields its figures come from. A scope whose
//! figures are all in code blocks (which are not checked) needs no fields: it says where the output comes from.
//!
//! Never checked: fenced code, inline code, link targets, HTML comments, dates and timestamps (2026-11-25,
//! 20261125T203723Z), versions (4.1.1, and a number right after a product's name: PostgreSQL 15.18), numbers that
//! are part of a word (p99, KIP-848, uuid8, #665) and plain integers from 0 to 10.
//!
//! # Outside a figures scope
//!
//! A number that looks measured fails the check: one followed by a unit of time (ms, s, min …), size (KiB, MiB,
//! MB, bytes …) or rate (orders/s, anything per second), a percentage or a multiple (×, times); one with decimals
//! (0.41 of the ceiling); one written with a thousands separator (1,387 orders). Configured values go in
//! `<!-- settings -->` … `<!-- /settings -->` (session timeout 10 s, 200 orders/s), figures that are not this
//! project's to trace (a quote from elsewhere) in `<!-- not measured -->` … `<!-- /not measured -->`. Both end at
//! the next heading too; inside a figures scope they suspend it until they close. Plain integers without a unit
//! pass: they mostly count what the docs set up (3 partitions, port 9092, 14 poison kinds), so a measured count is
//! written with its separator or quoted inside a scope. Headings end every scope, so a measured figure belongs in the
//! text under its heading.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The docs checked: README and every file of docs/ (`every_doc_is_checked` keeps the list complete).
const DOCS: &[&str] = &[
    "README.md",
    "docs/architecture.md",
    "docs/benchmarks.md",
    "docs/cluster.md",
    "docs/configuration.md",
    "docs/containers.md",
    "docs/experiment.md",
    "docs/kubernetes.md",
    "docs/lab.md",
    "docs/observability.md",
    "docs/operating.md",
    "docs/performance.md",
    "docs/rebalancing.md",
    "docs/reliability.md",
    "docs/results.md",
    "docs/security.md",
    "docs/soak.md",
    "docs/testing.md",
    "docs/troubleshooting.md",
    "docs/walkthrough.md",
];

/// Words after which a number is a version: `PostgreSQL 15.18`, `Java 17`.
const PRODUCTS: &[&str] = &[
    "compose",
    "debian",
    "go",
    "java",
    "jdk",
    "kafka",
    "librdkafka",
    "openssl",
    "postgres",
    "postgresql",
    "python",
    "rdkafka",
    "rust",
    "sqlx",
    "toolchain",
    "version",
];

const TIME_UNITS: &[&str] = &[
    "ns", "µs", "us", "ms", "s", "sec", "secs", "second", "seconds", "min", "mins", "minute", "minutes", "h", "hour",
    "hours",
];
const SIZE_UNITS: &[&str] = &["B", "byte", "bytes", "KB", "kB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"];
const MULTIPLE_UNITS: &[&str] = &["x", "×", "times"];
/// The extensions of the kept files a scope reads.
const READ: &[&str] = &["json", "md", "csv", "txt"];

/// A number as the doc wrote it.
#[derive(Debug, Clone, PartialEq)]
struct Number {
    /// As written: `27,164`.
    written: String,
    /// Without thousands separators, what a kept value must round to: `27164`.
    plain: String,
    decimals: usize,
    thousands: bool,
    /// The unit of measure after it: `ms`, `MiB`, `orders/s`, `%` …
    unit: Option<String>,
    /// Followed by a dash and another number (`355–410 ms`): it takes that number's unit.
    range: bool,
}

impl Number {
    fn is_small_integer(&self) -> bool {
        self.decimals == 0 && !self.thousands && self.plain.parse::<u64>().is_ok_and(|v| v <= 10)
    }

    fn looks_measured(&self) -> bool {
        self.unit.is_some() || self.decimals > 0 || self.thousands
    }

    fn shown(&self) -> String {
        match &self.unit {
            Some(unit) if unit.starts_with('/') || unit == "%" || unit == "×" => format!("{}{unit}", self.written),
            Some(unit) => format!("{} {unit}", self.written),
            None => self.written.clone(),
        }
    }
}

fn is_unit(word: &str) -> bool {
    TIME_UNITS.contains(&word)
        || SIZE_UNITS.contains(&word)
        || MULTIPLE_UNITS.contains(&word)
        || word == "%"
        || word.ends_with("/s")
        || word.ends_with("/sec")
}

/// The character at `i`, or NUL past either end.
fn at(line: &[char], i: usize) -> char {
    line.get(i).copied().unwrap_or('\0')
}

fn before(line: &[char], i: usize, back: usize) -> char {
    i.checked_sub(back).map_or('\0', |k| at(line, k))
}

fn digits_end(line: &[char], mut i: usize) -> usize {
    while at(line, i).is_ascii_digit() {
        i += 1;
    }
    i
}

/// The end of the word, identifier or path that holds `i`.
fn word_end(line: &[char], mut i: usize) -> usize {
    while at(line, i).is_alphanumeric() || matches!(at(line, i), '_' | '.' | '-' | '/' | ':' | '#' | '+') {
        i += 1;
    }
    i
}

/// A number that is part of a word: `p99`, `uuid8`, `KIP-848`, `SHA-512`, `#665`, `x86_64`.
fn glued_to_word(line: &[char], i: usize) -> bool {
    let p = before(line, i, 1);
    if p.is_alphanumeric() || p == '_' || p == '#' {
        return true;
    }
    matches!(p, '-' | '.' | '/' | ':' | '\'' | '+') && {
        let q = before(line, i, 2);
        q.is_alphabetic() || q == '_'
    }
}

/// The number starting at `i` follows a product's name (`PostgreSQL 15.18`): a version.
fn after_product_name(line: &[char], i: usize) -> bool {
    let mut k = i;
    while k > 0 && line[k - 1] == ' ' {
        k -= 1;
    }
    if k == i {
        return false;
    }
    let end = k;
    while k > 0 && (line[k - 1].is_alphabetic() || line[k - 1] == '-') {
        k -= 1;
    }
    let word: String = line[k..end].iter().collect::<String>().to_lowercase();
    PRODUCTS.contains(&word.as_str())
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\u{2009}')
}

/// The unit of measure after a number that ends at `j`, and whether letters glued to the number make it part of a
/// word instead (`5c994e5f`, `2nd`, `100k`).
fn unit_after(line: &[char], j: usize) -> (Option<String>, bool) {
    let c = at(line, j);
    if c.is_alphabetic() {
        let end = (j..).find(|&k| !at(line, k).is_alphabetic()).unwrap_or(j);
        let word: String = line[j..end].iter().collect();
        let rate = at(line, end) == '/' && at(line, end + 1) == 's' && !at(line, end + 2).is_alphanumeric();
        return match (TIME_UNITS.contains(&word.as_str()) || SIZE_UNITS.contains(&word.as_str()) || word == "x", rate) {
            (true, true) => (Some(format!("{word}/s")), false),
            (true, false) => (Some(word), false),
            (false, _) => (None, true),
        };
    }
    if c == '-' && at(line, j + 1).is_alphabetic() {
        // `5-minute defaults`: the word after the hyphen.
        let end = (j + 1..).find(|&k| !at(line, k).is_alphabetic()).unwrap_or(j + 1);
        let word: String = line[j + 1..end].iter().collect();
        return (is_unit(&word).then_some(word), false);
    }
    let mut k = j;
    while is_space(at(line, k)) {
        k += 1;
    }
    match at(line, k) {
        '%' => return (Some("%".into()), false),
        '×' => return (Some("×".into()), false),
        '/' if at(line, k + 1) == 's' && !at(line, k + 2).is_alphanumeric() => return (Some("/s".into()), false),
        _ => {}
    }
    if k == j {
        return (None, false);
    }
    let end = (k..).find(|&e| !(at(line, e).is_alphabetic() || at(line, e) == '/')).unwrap_or(k);
    let word: String = line[k..end].iter().collect::<String>().trim_end_matches('/').to_owned();
    (is_unit(&word).then_some(word), false)
}

/// The numbers of a line whose code, link targets and comments are already blanked, with what is never checked
/// (dates, versions, numbers inside words) left out.
fn numbers(line: &[char]) -> Vec<Number> {
    let mut found: Vec<Number> = Vec::new();
    let mut i = 0;
    while i < line.len() {
        if !line[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        if glued_to_word(line, i) {
            i = word_end(line, i);
            continue;
        }
        let mut j = digits_end(line, i);
        let mut thousands = false;
        if j - i <= 3 {
            while at(line, j) == ','
                && (1..=3).all(|k| at(line, j + k).is_ascii_digit())
                && !at(line, j + 4).is_ascii_digit()
            {
                j += 4;
                thousands = true;
            }
        }
        let int_end = j;
        if at(line, j) == '.' && at(line, j + 1).is_ascii_digit() {
            j = digits_end(line, j + 1);
            if at(line, j) == '.' && at(line, j + 1).is_ascii_digit() {
                i = word_end(line, j); // 4.1.1, 127.0.0.1
                continue;
            }
        }
        let date = j - i == 4
            && at(line, j) == '-'
            && at(line, j + 1).is_ascii_digit()
            && at(line, j + 2).is_ascii_digit()
            && at(line, j + 3) == '-';
        let clock_or_port = at(line, j) == ':' && at(line, j + 1).is_ascii_digit();
        if date || clock_or_port {
            i = word_end(line, j);
            continue;
        }
        if after_product_name(line, i) {
            i = j;
            continue;
        }
        let (unit, part_of_word) = unit_after(line, j);
        if part_of_word {
            i = word_end(line, j);
            continue;
        }
        let written: String = line[i..j].iter().collect();
        let decimals = if j > int_end { j - int_end - 1 } else { 0 };
        found.push(Number {
            plain: written.replace(',', ""),
            written,
            decimals,
            thousands,
            unit,
            range: matches!(at(line, j), '–' | '—' | '-') && at(line, j + 1).is_ascii_digit(),
        });
        i = j;
    }
    for k in (0..found.len().saturating_sub(1)).rev() {
        if found[k].range && found[k].unit.is_none() {
            found[k].unit = found[k + 1].unit.clone();
        }
    }
    found
}

fn find(text: &[char], from: usize, pattern: &str) -> Option<usize> {
    let pattern: Vec<char> = pattern.chars().collect();
    (from..text.len()).find(|&i| text[i..].starts_with(&pattern))
}

/// Blanks `range` of `text`, keeping line breaks so that lines keep their numbers.
fn blank(text: &mut [char], range: std::ops::Range<usize>) {
    for c in &mut text[range] {
        if *c != '\n' {
            *c = ' ';
        }
    }
}

fn backtick_run(text: &[char], i: usize) -> usize {
    text[i..].iter().take_while(|c| **c == '`').count()
}

/// Inline code spans, which may cross lines within a block; an unmatched backtick is plain text.
fn blank_code_spans(text: &mut [char]) {
    let mut i = 0;
    while i < text.len() {
        if text[i] != '`' {
            i += 1;
            continue;
        }
        let n = backtick_run(text, i);
        let mut k = i + n;
        let mut close = None;
        while k < text.len() {
            if text[k] == '`' {
                let m = backtick_run(text, k);
                if m == n {
                    close = Some(k);
                    break;
                }
                k += m;
            } else {
                k += 1;
            }
        }
        let end = close.map_or(i + n, |k| k + n);
        blank(text, i..end);
        i = end;
    }
}

/// Link and image targets `](…)`, reference definitions `[x]: …` and bare URLs.
fn blank_link_targets(text: &mut [char]) {
    let mut from = 0;
    while let Some(at) = find(text, from, "](") {
        let open = at + 1;
        let mut depth = 0;
        let mut end = text.len();
        for (k, c) in text.iter().enumerate().skip(open) {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                '\n' => {
                    end = k;
                    break;
                }
                _ => {}
            }
        }
        blank(text, open..end);
        from = end;
    }
    let mut start = 0;
    while start < text.len() {
        let line_end = (start..text.len()).find(|&k| text[k] == '\n').unwrap_or(text.len());
        let first = (start..line_end).find(|&k| text[k] != ' ').unwrap_or(line_end);
        if at(text, first) == '[' {
            if let Some(colon) = find(&text[..line_end], first, "]:") {
                blank(text, colon + 2..line_end);
            }
        }
        start = line_end + 1;
    }
    for scheme in ["http://", "https://"] {
        let mut from = 0;
        while let Some(at) = find(text, from, scheme) {
            let end = (at..text.len()).find(|&k| text[k].is_whitespace()).unwrap_or(text.len());
            blank(text, at..end);
            from = end;
        }
    }
}

/// The markers that open or close a scope, which must stand on a line of their own.
const MARKERS: &[&str] =
    &["<!-- figures", "<!-- /figures", "<!-- settings", "<!-- /settings", "<!-- not measured", "<!-- /not measured"];

/// A block's lines with inline code, HTML comments and link targets blanked, and the lines (counted from the
/// block's first) that hold a scope marker in the middle of text.
fn mask_block(lines: &[&str]) -> (Vec<Vec<char>>, Vec<usize>) {
    let mut text: Vec<char> = lines.join("\n").chars().collect();
    blank_code_spans(&mut text);
    let mut misplaced = Vec::new();
    let mut from = 0;
    while let Some(open) = find(&text, from, "<!--") {
        if MARKERS.iter().any(|m| text[open..].starts_with(&m.chars().collect::<Vec<_>>())) {
            misplaced.push(text[..open].iter().filter(|c| **c == '\n').count());
        }
        let end = find(&text, open + 4, "-->").map_or(text.len(), |k| k + 3);
        blank(&mut text, open..end);
        from = end;
    }
    blank_link_targets(&mut text);
    (text.split(|c| *c == '\n').map(<[char]>::to_vec).collect(), misplaced)
}

#[derive(Debug, Clone, PartialEq)]
enum Marker {
    /// The kept files, and the fields of them its figures come from.
    Figures {
        paths: Vec<String>,
        names: Vec<String>,
    },
    EndFigures,
    Settings,
    EndSettings,
    NotMeasured,
    EndNotMeasured,
}

/// The field names after `fields:`, separated by spaces; a phrase with spaces is quoted (`"wall time"`).
fn field_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (name, after) = match rest.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
            None => rest.split_once(char::is_whitespace).unwrap_or((rest, "")),
        };
        names.push(name.to_owned());
        rest = after.trim_start();
    }
    names
}

/// The marker a line holds on its own, if any.
fn marker(line: &str) -> Option<Marker> {
    let inner = line.trim().strip_prefix("<!--")?.strip_suffix("-->")?.trim();
    if let Some(rest) = inner.strip_prefix("figures:") {
        let (paths, names) = rest.split_once(" fields:").unwrap_or((rest, ""));
        return Some(Marker::Figures {
            paths: paths.split_whitespace().map(str::to_owned).collect(),
            names: field_names(names),
        });
    }
    match inner {
        "/figures" => Some(Marker::EndFigures),
        "settings" => Some(Marker::Settings),
        "/settings" => Some(Marker::EndSettings),
        "not measured" => Some(Marker::NotMeasured),
        "/not measured" => Some(Marker::EndNotMeasured),
        _ => None,
    }
}

/// A line of a Markdown file, as the check sees it.
#[derive(Debug)]
enum Line {
    /// Prose, a list item or a table row, with what is never checked blanked.
    Text(Vec<char>),
    Heading(Vec<char>),
    Marker(Marker),
    /// A scope marker inside text, which opens or closes nothing.
    MisplacedMarker,
    /// Fenced code, blank lines, other HTML comments.
    Skipped,
}

fn fence(line: &str) -> Option<(char, usize)> {
    let t = line.trim_start();
    let c = t.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = t.chars().take_while(|x| *x == c).count();
    (n >= 3).then_some((c, n))
}

fn is_heading(line: &str) -> bool {
    let hashes = line.chars().take_while(|c| *c == '#').count();
    (1..=6).contains(&hashes) && line[hashes..].starts_with(' ')
}

/// Splits a Markdown file into the lines the check reads. Code spans may cross lines within a paragraph, so text is
/// masked a block (consecutive non-blank lines) at a time; a heading and a table row are blocks of their own.
fn lines(text: &str) -> Vec<Line> {
    let raw: Vec<&str> = text.lines().collect();
    let mut out: Vec<Line> = Vec::with_capacity(raw.len());
    let mut block: Vec<&str> = Vec::new();
    let mut in_fence: Option<(char, usize)> = None;
    let flush = |block: &mut Vec<&str>, out: &mut Vec<Line>| {
        if block.is_empty() {
            return;
        }
        let (masked, misplaced) = mask_block(block);
        let first = out.len();
        out.extend(masked.into_iter().map(Line::Text));
        for k in misplaced {
            out[first + k] = Line::MisplacedMarker;
        }
        block.clear();
    };
    for line in raw {
        if let Some((c, n)) = in_fence {
            if fence(line).is_some_and(|(d, m)| d == c && m >= n && line.trim().chars().all(|x| x == c)) {
                in_fence = None;
            }
            out.push(Line::Skipped);
            continue;
        }
        let alone = line.trim().starts_with('|') || is_heading(line);
        let comment = line.trim().starts_with("<!--") && line.trim().ends_with("-->");
        if fence(line).is_some() || line.trim().is_empty() || comment || alone {
            flush(&mut block, &mut out);
        }
        if let Some(f) = fence(line) {
            in_fence = Some(f);
            out.push(Line::Skipped);
        } else if line.trim().is_empty() {
            out.push(Line::Skipped);
        } else if let Some(m) = marker(line) {
            out.push(Line::Marker(m));
        } else if comment {
            let (_, misplaced) = mask_block(&[line]);
            out.push(if misplaced.is_empty() { Line::Skipped } else { Line::MisplacedMarker });
        } else if alone {
            let (mut masked, misplaced) = mask_block(&[line]);
            let masked = masked.pop().unwrap_or_default();
            out.push(match (misplaced.is_empty(), is_heading(line)) {
                (false, _) => Line::MisplacedMarker,
                (true, true) => Line::Heading(masked),
                (true, false) => Line::Text(masked),
            });
        } else {
            block.push(line);
        }
    }
    flush(&mut block, &mut out);
    out
}

/// How a kept value is converted before it is compared with a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Conversion {
    None,
    KibToMib,
    KibToGib,
}

/// One number of a kept file and the field it sits in.
#[derive(Debug)]
struct Entry {
    value: f64,
    /// As text wrote it, without thousands separators (`27164`, `0.40`); JSON numbers have none.
    written: Option<String>,
    /// Its field counts KiB (`…_kib`).
    kib: bool,
    /// The keys of its JSON path (array indices left out), its CSV column, or the key of a `key=value` line.
    keys: Vec<String>,
    /// The line of text or the CSV row that holds it, which a phrase names, and where in the line it starts.
    line: Option<(usize, usize)>,
    /// The kept file, as the scope's findings name it.
    file: usize,
}

/// The header of a table in a kept text file, whose column names a number's field.
#[derive(Debug)]
enum Table {
    /// A Markdown or psql table: the cells of the line above its `---|---` line.
    Piped(Vec<String>),
    /// Columns aligned by spaces under an upper-case header (`GROUP  TOPIC  PARTITION  LAG`): where each starts.
    Aligned(Vec<(usize, String)>),
}

impl Table {
    /// The table `line` opens: a separator under a piped header, or an upper-case aligned header itself.
    fn header(previous: &str, line: &str) -> Option<Table> {
        let t = line.trim();
        let separator = t.contains('-')
            && (t.contains('|') || t.contains('+'))
            && t.chars().all(|c| matches!(c, '-' | '|' | '+' | ':' | ' '));
        if separator && previous.contains('|') {
            return Some(Table::Piped(Self::cells(previous)));
        }
        let tokens: Vec<(usize, &str)> = line
            .char_indices()
            .filter(|&(k, c)| !c.is_whitespace() && (k == 0 || line[..k].ends_with(char::is_whitespace)))
            .map(|(k, _)| (k, line[k..].split_whitespace().next().unwrap_or_default()))
            .collect();
        let upper = |w: &str| {
            w.chars().any(|c| c.is_ascii_uppercase())
                && w.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '#'))
        };
        (tokens.len() >= 3 && tokens.iter().all(|(_, w)| upper(w))).then(|| {
            Table::Aligned(tokens.into_iter().map(|(k, w)| (line[..k].chars().count(), w.to_owned())).collect())
        })
    }

    fn cells(line: &str) -> Vec<String> {
        let t = line.trim();
        let t = t.strip_prefix('|').unwrap_or(t);
        let t = t.strip_suffix('|').unwrap_or(t);
        t.split('|').map(|c| c.trim().to_owned()).collect()
    }

    /// The column of the number that starts at `pos` (in characters) of a row.
    fn column(&self, row: &str, pos: usize) -> Option<String> {
        match self {
            Table::Piped(header) => {
                let bars = row.chars().take(pos).filter(|c| *c == '|').count();
                let k = if row.trim_start().starts_with('|') { bars.checked_sub(1)? } else { bars };
                header.get(k).filter(|h| !h.is_empty()).cloned()
            }
            Table::Aligned(starts) => starts.iter().rev().find(|(start, _)| *start <= pos).map(|(_, w)| w.clone()),
        }
    }
}

/// Every number in a scope's files, with its field.
#[derive(Debug, Default)]
struct Values {
    entries: Vec<Entry>,
    lines: Vec<String>,
    files: Vec<String>,
}

/// A field name of a figures scope matches an entry: a JSON key or the dotted end of its path (`consumer.p99_ms`),
/// a CSV column, a `key=value` line's key, or a phrase the line of text (or CSV row) holds.
fn names_entry(values: &Values, entry: &Entry, name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    let by_key = entry.keys.len() >= parts.len()
        && entry.keys[entry.keys.len() - parts.len()..].iter().zip(&parts).all(|(k, p)| k == p);
    by_key || entry.line.is_some_and(|(l, _)| values.lines[l].contains(name))
}

/// The numbers of a text as written: `(value, without separators, where it starts)`.
fn text_numbers(text: &str) -> Vec<(f64, String, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut j = digits_end(&chars, i);
        while at(&chars, j) == ','
            && (1..=3).all(|k| at(&chars, j + k).is_ascii_digit())
            && !at(&chars, j + 4).is_ascii_digit()
        {
            j += 4;
        }
        if at(&chars, j) == '.' && at(&chars, j + 1).is_ascii_digit() {
            j = digits_end(&chars, j + 1);
        }
        let plain: String = chars[i..j].iter().filter(|c| **c != ',').collect();
        if let Ok(value) = plain.parse::<f64>() {
            found.push((value, plain, i));
        }
        i = j;
    }
    found
}

/// The key of a `key=value` pair whose value starts at `pos` (in characters): `in_flight=1000`.
fn logfmt_key(line: &str, pos: usize) -> Option<String> {
    let before: Vec<char> = line.chars().take(pos).collect();
    let (&last, rest) = before.split_last()?;
    let key: String = rest
        .iter()
        .rev()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '.'))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    (last == '=' && key.chars().any(char::is_alphabetic)).then_some(key)
}

/// What a suggestion calls the line of text that holds a number starting at `pos`: the words right before it (at
/// most four, back to the previous number), or after it when there are none, or else the whole line.
fn phrase(line: &str, pos: usize) -> String {
    let trim: &[char] =
        &['|', ':', '=', '-', '*', '#', '(', ')', ',', ';', '`', '"', '\'', '.', '/', '[', ']', '<', '>', ' '];
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let byte = |k: usize| chars.get(k).map_or(line.len(), |c| c.0);
    // The words of `line[from..to]` that hold a letter, as byte ranges.
    let words = |from: usize, to: usize| -> Vec<(usize, usize)> {
        let mut spans = Vec::new();
        let mut start = None;
        for k in from..=to {
            let end = k == to || chars[k].1.is_whitespace();
            match (start, end) {
                (None, false) => start = Some(k),
                (Some(s), true) => {
                    if chars[s..k].iter().any(|c| c.1.is_alphabetic()) {
                        spans.push((byte(s), byte(k)));
                    }
                    start = None;
                }
                _ => {}
            }
        }
        spans
    };
    let pos = pos.min(chars.len());
    let start = (0..pos).rev().find(|&k| chars[k].1.is_ascii_digit()).map_or(0, |k| k + 1);
    let before = words(start, pos);
    let chosen: Vec<(usize, usize)> = if before.is_empty() {
        let from = (pos..chars.len()).find(|&k| !chars[k].1.is_ascii_digit()).unwrap_or(chars.len());
        let to = (from..chars.len()).find(|&k| chars[k].1.is_ascii_digit()).unwrap_or(chars.len());
        words(from, to).into_iter().take(4).collect()
    } else {
        before[before.len().saturating_sub(4)..].to_vec()
    };
    let found = match (chosen.first(), chosen.last()) {
        (Some(first), Some(last)) => line[first.0..last.1].trim_matches(trim),
        _ => line.trim(),
    };
    let longest = |text: &str| -> String {
        let piece = text.split('"').max_by_key(|p| p.trim_matches(trim).len()).unwrap_or_default();
        let piece = piece.trim_matches(trim);
        let end = piece.split_whitespace().take(5).last().and_then(|w| piece.find(w).map(|k| k + w.len()));
        piece[..end.unwrap_or(piece.len())].to_owned()
    };
    match longest(found) {
        f if f.is_empty() => longest(line),
        f => f,
    }
}

impl Values {
    fn add_text_line(&mut self, text: &str, keys: Vec<String>, kib: bool, file: usize, table: Option<&Table>) {
        let line = self.lines.len();
        self.lines.push(text.to_owned());
        for (value, plain, pos) in text_numbers(text) {
            let keys = match (logfmt_key(text, pos), table.and_then(|t| t.column(text, pos))) {
                _ if !keys.is_empty() => keys.clone(),
                (Some(key), _) => vec![key],
                (None, Some(column)) => vec![column],
                (None, None) => Vec::new(),
            };
            let entry = Entry { value, written: Some(plain), kib, keys, line: Some((line, pos)), file };
            self.entries.push(entry);
        }
    }

    fn add_json(&mut self, value: &serde_json::Value, keys: &mut Vec<String>, file: usize) {
        match value {
            serde_json::Value::Number(n) => {
                if let Some(x) = n.as_f64() {
                    let kib = keys.last().is_some_and(|k| k.ends_with("_kib"));
                    self.entries.push(Entry { value: x, written: None, kib, keys: keys.clone(), line: None, file });
                }
            }
            serde_json::Value::String(s) => {
                for (value, plain, _) in text_numbers(s) {
                    let entry = Entry { value, written: Some(plain), kib: false, keys: keys.clone(), line: None, file };
                    self.entries.push(entry);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| self.add_json(v, keys, file)),
            serde_json::Value::Object(fields) => {
                for (k, v) in fields {
                    keys.push(k.clone());
                    self.add_json(v, keys, file);
                    keys.pop();
                }
            }
            serde_json::Value::Bool(_) | serde_json::Value::Null => {}
        }
    }

    fn add_csv(&mut self, text: &str, file: usize) {
        let mut rows = text.lines();
        let header: Vec<String> =
            rows.next().map(|h| h.split(',').map(|c| c.trim().to_owned()).collect()).unwrap_or_default();
        for row in rows {
            let line = self.lines.len();
            self.lines.push(row.to_owned());
            for (k, field) in row.split(',').enumerate() {
                let column = header.get(k).cloned().unwrap_or_default();
                let kib = column.ends_with("_kib");
                for (value, plain, _) in text_numbers(field) {
                    let keys = vec![column.clone()];
                    self.entries.push(Entry { value, written: Some(plain), kib, keys, line: Some((line, 0)), file });
                }
            }
        }
    }

    /// Reads one kept file; an error says why it cannot be read.
    fn add_file(&mut self, path: &Path, shown: String) -> Result<(), String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
        let file = self.files.len();
        self.files.push(shown);
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => {
                let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
                self.add_json(&value, &mut Vec::new(), file);
            }
            Some("csv") => self.add_csv(&text, file),
            _ => {
                let mut table: Option<Table> = None;
                let mut previous = "";
                for line in text.lines() {
                    if line.trim().is_empty() {
                        table = None;
                    } else if let Some(t) = Table::header(previous, line) {
                        table = Some(t);
                    }
                    previous = line;
                    // results.txt: `group1.consumer_rss_kib=21388`
                    match line.split_once('=') {
                        Some((key, _)) if !key.contains(' ') && !key.is_empty() => {
                            let keys = key.split('.').map(str::to_owned).collect();
                            self.add_text_line(line, keys, key.ends_with("_kib"), file, None)
                        }
                        _ => self.add_text_line(line, Vec::new(), false, file, table.as_ref()),
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether `entry` traces `number`: its value as written, or rounded as the doc rounded it, converted from KiB
    /// for a figure in MiB or GiB.
    fn traces(entry: &Entry, number: &Number) -> bool {
        if entry.written.as_deref() == Some(number.plain.as_str()) {
            return true;
        }
        let d = number.decimals;
        let conversions: &[Conversion] = match number.unit.as_deref() {
            Some("MiB") => &[Conversion::None, Conversion::KibToMib],
            Some("GiB") => &[Conversion::None, Conversion::KibToGib],
            _ => &[Conversion::None],
        };
        conversions.iter().any(|conversion| {
            let x = match conversion {
                Conversion::None => Some(entry.value),
                Conversion::KibToMib => entry.kib.then_some(entry.value / 1024.0),
                Conversion::KibToGib => entry.kib.then_some(entry.value / 1024.0 / 1024.0),
            };
            x.is_some_and(|x| format!("{:.d$}", x.abs()) == number.plain)
        })
    }

    /// What a finding calls the field of an entry: the name a scope would give it.
    fn label(&self, entry: &Entry) -> Option<String> {
        match (entry.keys.last(), entry.line) {
            (Some(key), _) => Some(key.clone()),
            (None, Some((line, pos))) => Some(phrase(&self.lines[line], pos)),
            (None, None) => None,
        }
    }

    /// The fields, by the name a scope would give them, whose values trace `number`, and their files.
    fn fields_tracing(&self, number: &Number) -> Vec<(String, &str)> {
        let mut labels: Vec<(String, &str)> = self
            .entries
            .iter()
            .filter(|e| Self::traces(e, number))
            .filter_map(|e| self.label(e).map(|l| (l, self.files[e.file].as_str())))
            .collect();
        labels.sort();
        labels.dedup();
        labels
    }
}

/// A figures scope: its kept files and the fields its figures come from.
#[derive(Debug)]
struct Scope {
    paths: Vec<String>,
    names: Vec<String>,
    /// Where its marker stands.
    at: String,
    /// The entries of its files that a named field holds, and by which names.
    eligible: Vec<(usize, Vec<usize>)>,
    /// Which names traced a figure.
    used: Vec<bool>,
    /// The fields that trace each figure, kept when the scope names none, for the suggestion.
    figures: Vec<Vec<String>>,
}

impl Scope {
    fn new(values: &Values, paths: Vec<String>, names: Vec<String>, at: String) -> Scope {
        let eligible = values
            .entries
            .iter()
            .enumerate()
            .filter_map(|(k, e)| {
                let by: Vec<usize> = (0..names.len()).filter(|&n| names_entry(values, e, &names[n])).collect();
                (!by.is_empty()).then_some((k, by))
            })
            .collect();
        let used = vec![false; names.len()];
        Scope { paths, names, at, eligible, used, figures: Vec::new() }
    }

    /// Whether one of the scope's named fields traces `number`; the names that do are marked used.
    fn traced(&mut self, values: &Values, number: &Number) -> bool {
        let mut found = false;
        for (k, by) in &self.eligible {
            if Values::traces(&values.entries[*k], number) {
                found = true;
                by.iter().for_each(|&n| self.used[n] = true);
            }
        }
        found
    }

    /// What is wrong with the scope as a whole, once its figures are read.
    fn close(self, values: &Values, report: &mut Report) {
        let at = &self.at;
        if self.names.is_empty() && self.figures.is_empty() {
            return; // it cites the source of what follows in code blocks, which is not checked
        }
        if self.names.is_empty() {
            let fields = suggest(&self.figures);
            let hint = if fields.is_empty() {
                String::new()
            } else {
                format!(": its figures come from `fields: {}`", fields.join(" "))
            };
            report.findings.push(format!("{at}: the figures scope names no field{hint}"));
            return;
        }
        for (n, name) in self.names.iter().enumerate() {
            if !values.entries.iter().any(|e| names_entry(values, e, name)) {
                report.findings.push(format!("{at}: the field {name} names nothing in {}", self.paths.join(" ")));
            } else if !self.used[n] {
                report.findings.push(format!("{at}: no figure of the scope comes from the field {name}"));
            }
        }
    }
}

/// The fewest fields that trace every figure (greedily), for a scope that names none: what to write after
/// `fields:`.
fn suggest(figures: &[Vec<String>]) -> Vec<String> {
    let mut left: Vec<&Vec<String>> = figures.iter().filter(|f| !f.is_empty()).collect();
    let mut chosen = Vec::new();
    while !left.is_empty() {
        let mut counts: HashMap<&String, usize> = HashMap::new();
        for f in &left {
            for name in *f {
                *counts.entry(name).or_default() += 1;
            }
        }
        // The field that traces most figures; among equals a key (`median_rows_per_s`) before a phrase of text.
        let key = |n: &str| n.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
        let Some(best) = counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(key(a.0).cmp(&key(b.0))).then(b.0.cmp(a.0)))
            .map(|(n, _)| n.clone())
        else {
            break;
        };
        left.retain(|f| !f.contains(&best));
        chosen.push(best);
    }
    chosen.iter().map(|n| if n.contains(' ') { format!("\"{n}\"") } else { n.clone() }).collect()
}

/// The kept files a scope names: a folder stands for the readable files in it, recursively.
fn scope_files(dir: &Path, paths: &[String]) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    if paths.is_empty() {
        errors.push("the figures scope names no file".to_owned());
    }
    for p in paths {
        let path = dir.join(p);
        if path.is_dir() {
            let before = files.len();
            let mut folders = vec![path.clone()];
            while let Some(folder) = folders.pop() {
                let Ok(entries) = std::fs::read_dir(&folder) else {
                    errors.push(format!("{p}: cannot list {}", folder.display()));
                    continue;
                };
                let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
                entries.sort();
                for entry in entries {
                    if entry.is_dir() {
                        folders.push(entry);
                    } else if entry.extension().and_then(|e| e.to_str()).is_some_and(|e| READ.contains(&e)) {
                        files.push(entry);
                    }
                }
            }
            if files.len() == before {
                errors.push(format!("{p} holds no .json, .md, .csv or .txt file"));
            }
        } else if !path.exists() {
            errors.push(format!("{p} does not exist"));
        } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| READ.contains(&e)) {
            files.push(path);
        } else {
            errors.push(format!("{p}: only .json, .md, .csv and .txt files are read"));
        }
    }
    (files, errors)
}

/// What checking one Markdown file found.
#[derive(Debug, Default)]
struct Report {
    /// `file:line: what is wrong`, one per untraced figure, per line of unannotated measurements, per bad marker.
    findings: Vec<String>,
    /// Figures found in their scope's named fields.
    traced: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Exempt {
    Settings,
    NotMeasured,
}

/// Reads the files a scope names once per Markdown file.
fn load(dir: &Path, paths: &[String], at: &str, report: &mut Report) -> Values {
    let (files, mut errors) = scope_files(dir, paths);
    let mut values = Values::default();
    for file in files {
        let shown = file.strip_prefix(dir).unwrap_or(&file).display().to_string();
        if let Err(e) = values.add_file(&file, shown) {
            errors.push(format!("{}: {e}", file.display()));
        }
    }
    report.findings.extend(errors.into_iter().map(|e| format!("{at}: {e}")));
    values
}

/// Checks one figure of a scope.
fn check_figure(scope: &mut Scope, values: &Values, number: &Number, at: &str, report: &mut Report) {
    if scope.names.is_empty() {
        let fields = values.fields_tracing(number);
        if fields.is_empty() {
            report.findings.push(format!(
                "{at}: {} is in none of this scope's files ({}), even rounded to {} decimal(s)",
                number.shown(),
                scope.paths.join(" "),
                number.decimals
            ));
        } else {
            report.traced += 1;
        }
        let mut names: Vec<String> = fields.into_iter().map(|(name, _)| name).collect();
        names.dedup();
        scope.figures.push(names);
        return;
    }
    if scope.traced(values, number) {
        report.traced += 1;
        return;
    }
    let elsewhere = values.fields_tracing(number);
    let hint = if elsewhere.is_empty() {
        String::new()
    } else {
        let held: Vec<String> = elsewhere.iter().map(|(name, file)| format!("{name} in {file}")).collect();
        format!("; the scope does not name the field(s) that hold it: {}", held.join(", "))
    };
    report.findings.push(format!(
        "{at}: {} is in none of this scope's fields ({}) of {}, even rounded to {} decimal(s){hint}",
        number.shown(),
        scope.names.join(" "),
        scope.paths.join(" "),
        number.decimals
    ));
}

/// Checks one Markdown file; `name` is how findings name it.
fn check_doc(path: &Path, name: &str) -> Report {
    let mut report = Report::default();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            report.findings.push(format!("{name}: cannot read it: {e}"));
            return report;
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut loaded: HashMap<Vec<String>, Values> = HashMap::new();
    let mut scope: Option<Scope> = None;
    let mut exempt: Option<Exempt> = None;
    let close = |scope: &mut Option<Scope>, loaded: &HashMap<Vec<String>, Values>, report: &mut Report| {
        if let Some(s) = scope.take() {
            if let Some(values) = loaded.get(&s.paths) {
                s.close(values, report);
            }
        }
    };
    for (index, line) in lines(&text).into_iter().enumerate() {
        let at = format!("{name}:{}", index + 1);
        let unopened = |open: bool, what: &str, report: &mut Report| {
            if !open {
                report.findings.push(format!("{at}: <!-- /{what} --> closes no {what} scope"));
            }
        };
        let text = match line {
            Line::Skipped => continue,
            Line::MisplacedMarker => {
                report.findings.push(format!("{at}: a scope marker must stand on a line of its own"));
                continue;
            }
            Line::Marker(Marker::Figures { paths, names }) => {
                close(&mut scope, &loaded, &mut report);
                if !loaded.contains_key(&paths) {
                    let values = load(dir, &paths, &at, &mut report);
                    loaded.insert(paths.clone(), values);
                }
                let values = &loaded[&paths];
                scope = Some(Scope::new(values, paths, names, at));
                continue;
            }
            Line::Marker(Marker::EndFigures) => {
                unopened(scope.is_some(), "figures", &mut report);
                close(&mut scope, &loaded, &mut report);
                continue;
            }
            Line::Marker(Marker::Settings) | Line::Marker(Marker::NotMeasured) if exempt.is_some() => {
                report.findings.push(format!("{at}: a settings or not-measured scope is already open"));
                continue;
            }
            Line::Marker(Marker::Settings) => {
                exempt = Some(Exempt::Settings);
                continue;
            }
            Line::Marker(Marker::NotMeasured) => {
                exempt = Some(Exempt::NotMeasured);
                continue;
            }
            Line::Marker(Marker::EndSettings) => {
                unopened(exempt.take_if(|e| *e == Exempt::Settings).is_some(), "settings", &mut report);
                continue;
            }
            Line::Marker(Marker::EndNotMeasured) => {
                unopened(exempt.take_if(|e| *e == Exempt::NotMeasured).is_some(), "not measured", &mut report);
                continue;
            }
            Line::Heading(text) => {
                close(&mut scope, &loaded, &mut report);
                exempt = None;
                text
            }
            Line::Text(text) => text,
        };
        if exempt.is_some() {
            continue;
        }
        let found: Vec<Number> = numbers(&text).into_iter().filter(|n| !n.is_small_integer()).collect();
        match scope.as_mut() {
            Some(scope) => {
                let values = &loaded[&scope.paths];
                for number in &found {
                    check_figure(scope, values, number, &at, &mut report);
                }
            }
            None => {
                let measured: Vec<String> = found.iter().filter(|n| n.looks_measured()).map(Number::shown).collect();
                if !measured.is_empty() {
                    report.findings.push(format!("{at}: {} in no figures scope", measured.join(", ")));
                }
            }
        }
    }
    close(&mut scope, &loaded, &mut report);
    report
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

/// Says how to fix what `check_all` found.
const HOW_TO_FIX: &str = "For each line below: put the figure in a figures scope naming the kept files and the fields \
    it comes from (<!-- figures: PATH … fields: NAME … --> on a line of its own), correct it to what those files hold, or remove it; wrap configured \
    values in <!-- settings --> … <!-- /settings --> and figures that are not this project's in <!-- not measured --> … \
    <!-- /not measured -->. The convention: doc-checks/tests/docs_figures.rs, docs/architecture.md.";

fn check_all(docs: &[&str]) -> Report {
    let root = root();
    let mut all = Report::default();
    for doc in docs {
        let report = check_doc(&root.join(doc), doc);
        all.findings.extend(report.findings);
        all.traced += report.traced;
    }
    all
}

#[test]
fn docs_figures_are_traced() {
    let report = check_all(DOCS);
    assert!(
        report.findings.is_empty(),
        "{} findings. {HOW_TO_FIX}\n{}",
        report.findings.len(),
        report.findings.join("\n")
    );
    assert!(report.traced > 400, "only {} figures traced: is the parser still right?", report.traced);
}

#[test]
fn every_doc_is_checked() {
    let root = root();
    let mut docs = vec!["README.md".to_owned()];
    let entries = std::fs::read_dir(root.join("docs")).expect("docs/");
    docs.extend(
        entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .filter_map(|p| p.file_name().map(|n| format!("docs/{}", n.to_string_lossy()))),
    );
    let listed: HashSet<&str> = DOCS.iter().copied().collect();
    let missing: Vec<&String> = docs.iter().filter(|d| !listed.contains(d.as_str())).collect();
    assert!(missing.is_empty(), "add these to DOCS in doc-checks/tests/docs_figures.rs: {missing:?}");
    let gone: Vec<&&str> = listed.iter().filter(|d| !docs.iter().any(|x| x == **d)).collect();
    assert!(gone.is_empty(), "listed but not found: {gone:?}");
}

/// Writes `files` and `doc.md` into a fresh folder of the test target's scratch space and checks the doc.
fn check_fixture(name: &str, files: &[(&str, &str)], doc: &str) -> Report {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs_figures").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    for (path, content) in files.iter().chain([("doc.md", doc)].iter()) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("the fixture's folder");
        std::fs::write(&path, content).expect("a fixture file");
    }
    check_doc(&dir.join("doc.md"), "doc.md")
}

const RUN: &str = r#"{"takeover_s": 11.6071, "rows": 27164, "ratio": 0.4077, "note": "recovered in 10.3 s"}"#;

#[test]
fn a_traced_figure_passes_and_a_fabricated_one_fails() {
    let doc = "# Run\n\n<!-- figures: run.json fields: takeover_s rows -->\n\nThe takeover took 11.61 s; 27,164 rows were \
         stored, then 27,165.\n";
    let report = check_fixture("fabricated", &[("run.json", RUN)], doc);
    assert_eq!(report.traced, 2);
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    assert_eq!(
        report.findings[0],
        "doc.md:5: 27,165 is in none of this scope's fields (takeover_s rows) of run.json, even rounded to 0 decimal(s)"
    );
}

#[test]
fn a_figure_from_a_field_the_scope_does_not_name_fails_and_says_which_field_holds_it() {
    // 0.41 is the ratio, not the takeover: a scope that names only the takeover cannot quote it.
    let doc = "<!-- figures: run.json fields: takeover_s -->\nThe takeover took 11.61 s, 0.41 of the ceiling.\n";
    let report = check_fixture("wrong-field", &[("run.json", RUN)], doc);
    assert_eq!(report.traced, 1);
    assert_eq!(
        report.findings,
        ["doc.md:2: 0.41 is in none of this scope's fields (takeover_s) of run.json, even rounded to 2 decimal(s); \
          the scope does not name the field(s) that hold it: ratio in run.json"]
    );
}

#[test]
fn fields_are_json_paths_csv_columns_keys_table_columns_and_phrases() {
    let files = [
        ("run/bench.json", r#"{"group1": {"p99_ms": 12.5}, "group3": {"p99_ms": 30.1}}"#),
        ("run/memory.csv", "label,rss_kib\nconsumer-1,21388\n"),
        ("run/results.txt", "one.median_rows_per_s=46382\nwall time 38 min 25 s\n"),
        ("run/group.txt", "GROUP  TOPIC  PARTITION  LAG\norders food   0          1234\n"),
        ("run/counts.txt", " count | distinct\n-------+---------\n  7818 |     7822\n"),
    ];
    let doc = "<!-- figures: run/ fields: group1.p99_ms rss_kib median_rows_per_s \"wall time\" LAG count -->\n\
               p99 12.5 ms; 20.9 MiB; 46,382 orders/s; 38 min; lag 1,234; 7,818 rows.\n\
               Not from a named field: 30.1 ms (group3), 7,822 (distinct).\n";
    let report = check_fixture("field-kinds", &files, doc);
    assert_eq!(report.traced, 6, "{:?}", report.findings);
    let wrong: Vec<&str> = report.findings.iter().filter_map(|f| f.split(" is in none").next()).collect();
    assert_eq!(wrong, ["doc.md:3: 30.1 ms", "doc.md:3: 7,822"], "{:?}", report.findings);
    assert!(report.findings[1].ends_with("hold it: distinct in run/counts.txt"), "{:?}", report.findings);
}

#[test]
fn a_scope_without_fields_is_told_them_and_a_field_must_exist_and_be_used() {
    let doc = "<!-- figures: run.json -->\n11.61 s and 27,164 rows.\n\n## Next\n\n\
               <!-- figures: run.json fields: takeover_s ratio takeover_ms -->\n11.61 s.\n";
    let report = check_fixture("no-fields", &[("run.json", RUN)], doc);
    assert_eq!(
        report.findings,
        [
            "doc.md:1: the figures scope names no field: its figures come from `fields: rows takeover_s`",
            "doc.md:6: no figure of the scope comes from the field ratio",
            "doc.md:6: the field takeover_ms names nothing in run.json",
        ]
    );
}

#[test]
fn a_figure_is_traced_at_the_precision_the_doc_wrote() {
    let doc = "<!-- figures: run.json fields: takeover_s ratio note -->\nTakeover 11.6 s, 11.61 s, 12 s; ratio 0.41, 0.4, \
               0.408; text 10.3 s.\n\
               Wrong: 11.60 s, 0.407.\n";
    let report = check_fixture("rounding", &[("run.json", RUN)], doc);
    assert_eq!(report.traced, 7, "{:?}", report.findings);
    let wrong: Vec<&str> = report.findings.iter().filter_map(|f| f.split(": ").nth(1)).collect();
    assert_eq!(
        wrong,
        [
            "11.60 s is in none of this scope's fields (takeover_s ratio note) of run.json, even rounded to 2 decimal(s)",
            "0.407 is in none of this scope's fields (takeover_s ratio note) of run.json, even rounded to 3 decimal(s)"
        ]
    );
}

#[test]
fn code_links_dates_versions_words_and_small_integers_are_not_figures() {
    let doc = "<!-- figures: run.json fields: rows -->\n\
               Run `scripts/lab.sh bench --orders 12345`, see [the 999 run](results/bench-4242/x.json).\n\
               On 2026-11-25 (20261125T203723Z), Kafka 4.1.1, PostgreSQL 15.18, p99, KIP-848, uuid8, #665, \
               `…5c994e5f`, 3 consumers, 10 s, 27,164 rows.\n\
               A span `across\nlines 7777` ends here. <!-- a comment 8888 -->\n\
               ```sh\necho 99999 ms\n```\n";
    let report = check_fixture("skipped", &[("run.json", RUN)], doc);
    assert!(report.findings.iter().all(|f| f.starts_with("doc.md:2: 999 is in none")), "{:?}", report.findings);
    assert_eq!(report.findings.len(), 1, "the link text is prose and is checked: {:?}", report.findings);
}

#[test]
fn an_unannotated_measurement_outside_a_scope_fails() {
    let doc = "# Notes\n\nThe takeover took 11.6 s.\n\nIt stored 1,387 orders at 0.41 of the ceiling, 84,039 orders/s.\n\
               Three partitions, port 9092, uid 10001, 14 kinds, 5 s: not measurements.\n\
               \n<!-- settings -->\nThe producer sends 200 orders/s; the session timeout is 45 s.\n<!-- /settings -->\n\
               \n<!-- not measured -->\nThe seed's write-up claims 41,507 offsets.\n<!-- /not measured -->\n\
               Back outside: 355–410 ms.\n";
    let report = check_fixture("outside", &[], doc);
    let lines: Vec<&str> = report.findings.iter().map(|f| f.split(" in no").next().unwrap_or_default()).collect();
    assert_eq!(lines, ["doc.md:3: 11.6 s", "doc.md:5: 1,387, 0.41, 84,039 orders/s", "doc.md:15: 355 ms, 410 ms"]);
}

#[test]
fn a_scope_ends_at_the_next_heading_and_a_settings_scope_suspends_it() {
    let doc = "<!-- figures: run.json fields: takeover_s rows -->\n11.61 s\n<!-- settings -->\n45 s\n<!-- /settings -->\n\
               27,164 rows\n## Next\n11.61 s\n<!-- figures: run.json fields: takeover_s -->\n11.61 s\n<!-- /figures -->\n\
               27,164 rows\n";
    let report = check_fixture("ends", &[("run.json", RUN)], doc);
    assert_eq!(report.traced, 3);
    let lines: Vec<&str> = report.findings.iter().map(|f| f.split(": ").next().unwrap_or_default()).collect();
    assert_eq!(lines, ["doc.md:8", "doc.md:12"], "{:?}", report.findings);
}

#[test]
fn a_folder_is_read_recursively_and_kib_fields_trace_mib() {
    let files = [
        ("results/run/memory.csv", "time_utc,elapsed_s,label,rss_kib\n2026-11-25T19:59:47Z,2.7,consumer-1,21388\n"),
        ("results/run/deeper/summary.txt", "wall time 38 min 25 s\nmachine.memory_kib=24684092\n"),
        ("results/run/chart.svg", "<svg>31337</svg>"),
    ];
    let doc = "<!-- figures: results/run/ fields: rss_kib elapsed_s memory_kib \"wall time\" -->\nPeak 20.9 MiB at 2.7 s; 24 GiB; \
         38 min 25 s; not 21.0 MiB; not 31,337.\n";
    let report = check_fixture("folder", &files, doc);
    assert_eq!(report.traced, 5, "{:?}", report.findings);
    assert_eq!(report.findings.len(), 2, "{:?}", report.findings);
    assert!(report.findings[0].contains("21.0 MiB") && report.findings[1].contains("31,337"));
}

#[test]
fn a_bad_scope_is_a_finding() {
    let doc = "<!-- figures: missing.json chart.svg -->\nText.\n<!-- /settings -->\nInline <!-- settings --> marker.\n";
    let report = check_fixture("bad-scope", &[("chart.svg", "<svg/>")], doc);
    assert_eq!(report.findings.len(), 4, "{:?}", report.findings);
    assert!(report.findings[0].contains("missing.json does not exist"));
    assert!(report.findings[1].contains("chart.svg: only .json, .md, .csv and .txt files are read"));
    assert!(report.findings[2].starts_with("doc.md:3: <!-- /settings --> closes no settings scope"));
    assert!(report.findings[3].starts_with("doc.md:4: a scope marker must stand on a line of its own"));
}

#[test]
fn numbers_are_read_with_separators_decimals_and_units() {
    let line: Vec<char> =
        "1,387 rows, 27,164.5 orders/s, 11.61 s, 20.9 MiB, 10.7 %, 2.3 times, 500ms, 1,2345, 0.41–0.53"
            .chars()
            .collect();
    let shown: Vec<String> = numbers(&line).iter().map(Number::shown).collect();
    assert_eq!(
        shown,
        [
            "1,387",
            "27,164.5 orders/s",
            "11.61 s",
            "20.9 MiB",
            "10.7%",
            "2.3 times",
            "500 ms",
            "1",
            "2345",
            "0.41",
            "0.53"
        ]
    );
    let n = &numbers(&line)[1];
    assert_eq!((n.plain.as_str(), n.decimals, n.thousands), ("27164.5", 1, true));
}
