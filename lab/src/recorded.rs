//! What the runs record and how the reports print it: `results.txt` (`key=value` lines, `group.name=value`),
//! written as figures are measured ([`Recorder`]) and read in the order written, for the soak's report ([`crate::soak`]) and the benchmark's ([`crate::bench`]); and
//! numbers printed as the reports print them, the way the Python report writers did (the kept reports are written
//! again byte for byte).

/// `results.txt`: groups in the order first written, each with its names in the order written.
#[derive(Debug, Default)]
pub struct Results {
    groups: Vec<(String, Vec<(String, String)>)>,
}

impl Results {
    pub fn parse(text: &str) -> Self {
        let mut results = Results::default();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (key, value) = line.split_once('=').unwrap_or((line, ""));
            let (group, name) = key.split_once('.').unwrap_or((key, ""));
            let index = match results.groups.iter().position(|(g, _)| g == group) {
                Some(i) => i,
                None => {
                    results.groups.push((group.to_owned(), Vec::new()));
                    results.groups.len() - 1
                }
            };
            let names = &mut results.groups[index].1;
            match names.iter_mut().find(|(n, _)| n == name) {
                Some(kept) => kept.1 = value.to_owned(),
                None => names.push((name.to_owned(), value.to_owned())),
            }
        }
        results
    }

    /// Every group, in the order first written, with its names and values.
    pub fn groups(&self) -> &[(String, Vec<(String, String)>)] {
        &self.groups
    }

    /// The names and values of `group`, none when not recorded.
    pub fn group(&self, group: &str) -> &[(String, String)] {
        self.groups.iter().find(|(g, _)| g == group).map_or(&[], |(_, names)| names)
    }

    /// The value of `group.name`, empty when not recorded.
    pub fn get(&self, group: &str, name: &str) -> &str {
        self.group(group).iter().find(|(n, _)| n == name).map_or("", |(_, v)| v)
    }

    /// The value of `group.name` as a number, when it is one.
    pub fn number(&self, group: &str, name: &str) -> Option<f64> {
        self.get(group, name).parse().ok()
    }
}

/// Appends figures to a `results.txt` as they are measured, so a run that stops midway keeps what it measured,
/// and reads back what it recorded.
#[derive(Debug)]
pub struct Recorder {
    path: std::path::PathBuf,
    file: std::fs::File,
    recorded: Vec<(String, String)>,
}

impl Recorder {
    /// Creates (or empties) the file.
    ///
    /// # Errors
    /// When it cannot be created.
    pub fn create(path: &std::path::Path) -> anyhow::Result<Self> {
        let file = std::fs::File::create(path).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        Ok(Self { path: path.to_owned(), file, recorded: Vec::new() })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Appends `key=value`.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn record(&mut self, key: &str, value: impl std::fmt::Display) -> anyhow::Result<()> {
        use std::io::Write;
        let value = value.to_string();
        writeln!(self.file, "{key}={value}")
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", self.path.display()))?;
        self.recorded.push((key.to_owned(), value));
        Ok(())
    }

    /// The value last recorded for `key`.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.recorded.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value last recorded for `key`, as a number.
    pub fn number(&self, key: &str) -> Option<f64> {
        self.value(key)?.parse().ok()
    }

    /// The lines recorded so far whose key starts with one of `prefixes`.
    pub fn lines_starting(&self, prefixes: &[&str]) -> Vec<String> {
        self.recorded
            .iter()
            .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }
}

/// `f"{value:,.{digits}f}"`: thousands separators and `digits` decimals, the exact binary value rounded half to
/// even as Python rounds it, a negative number that rounds to zero keeping its sign ("-0.0"); "–" when there is
/// no number.
pub fn num(value: Option<f64>, digits: usize) -> String {
    let Some(value) = value else { return "–".to_owned() };
    if !value.is_finite() {
        return python_repr(value);
    }
    let text = format!("{:.digits$}", value.abs());
    let (whole, fraction) = text.split_once('.').map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if value.is_sign_negative() { "-" } else { "" };
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// Python's `repr()` of a float: the shortest digits that read back as it, in fixed notation from 1e-4 up to 1e16
/// ("15.18", "17.0"), in scientific notation outside ("1e-05", "1.5e+16").
pub fn python_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_owned();
    }
    let sign = if value.is_sign_negative() { "-" } else { "" };
    if value.is_infinite() {
        return format!("{sign}inf");
    }
    // Rust's `{:e}` prints the same shortest digits: "1.518e1", "6e-1", "0e0".
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits = mantissa.replace('.', "");
    let body = if (-4..16).contains(&exponent) {
        // The digits before the point: none below 1.
        match usize::try_from(exponent + 1) {
            Ok(whole) if whole > 0 && digits.len() > whole => format!("{}.{}", &digits[..whole], &digits[whole..]),
            Ok(whole) if whole > 0 => format!("{digits}{}.0", "0".repeat(whole - digits.len())),
            _ => format!("0.{}{digits}", "0".repeat(exponent.unsigned_abs() as usize - 1)),
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        format!("{first}{rest}e{exponent_sign}{:02}", exponent.unsigned_abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_python_formats_them_with_separators() {
        // What python3 prints for f"{v:,.{d}f}": the exact binary value, ties to even.
        let cases = [
            (0.125, 2, "0.12"),
            (0.375, 2, "0.38"),
            (2.675, 2, "2.67"),
            (2.5, 0, "2"),
            (3.5, 0, "4"),
            (0.5, 0, "0"),
            (-2.5, 0, "-2"),
            (1234.5, 0, "1,234"),
            (999_999.5, 0, "1,000,000"),
            (24_151.546875, 0, "24,152"),
            (1e21, 0, "1,000,000,000,000,000,000,000"),
            (-1_234_567.891, 2, "-1,234,567.89"),
            (-0.04, 1, "-0.0"),
            (-0.0, 0, "-0"),
            (0.431, 3, "0.431"),
            (f64::INFINITY, 1, "inf"),
            (f64::NEG_INFINITY, 0, "-inf"),
            (f64::NAN, 2, "nan"),
        ];
        for (value, digits, python) in cases {
            assert_eq!(num(Some(value), digits), python, "{value} to {digits} digits");
        }
        assert_eq!(num(None, 2), "–");
    }

    #[test]
    fn floats_print_as_python_repr_prints_them() {
        let cases = [
            (15.18, "15.18"),
            (17.0, "17.0"),
            (28.6, "28.6"),
            (0.6, "0.6"),
            (0.05, "0.05"),
            (0.1234, "0.1234"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123_456.789, "123456.789"),
            (-0.0, "-0.0"),
            (2e-300, "2e-300"),
        ];
        for (value, python) in cases {
            assert_eq!(python_repr(value), python);
        }
    }
}
