//! Durations on the command line. The options whose names end in `_MS` take a number of milliseconds, as their
//! names say, or a duration with its unit (`250ms`, `2s`); every other duration option takes a `humantime`
//! duration.

use std::time::Duration;

/// A clap value parser for the options named `…_MS`: a bare number is milliseconds, as the name says; a duration
/// with its unit (`250ms`, `2s`, `1m`) is read as written.
///
/// # Errors
/// Neither a number nor a duration.
pub fn millis(value: &str) -> Result<Duration, String> {
    match value.trim().parse::<u64>() {
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(_) => humantime::parse_duration(value.trim()).map_err(|e| {
            format!("'{value}' is neither milliseconds (a whole number) nor a duration such as 250ms: {e}")
        }),
    }
}

/// As [`millis`], for the durations that must not be zero.
///
/// # Errors
/// Not a duration, or zero.
pub fn positive_millis(value: &str) -> Result<Duration, String> {
    let duration = millis(value)?;
    if duration.is_zero() { Err(format!("'{value}' must be at least 1 ms")) } else { Ok(duration) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_are_a_number_or_a_duration() {
        assert_eq!(millis("50"), Ok(Duration::from_millis(50)));
        assert_eq!(millis("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(millis("250ms"), Ok(Duration::from_millis(250)));
        assert!(millis("soon").unwrap_err().contains("'soon' is neither milliseconds"));
        assert!(millis("-5").is_err());
        assert_eq!(positive_millis("0").unwrap_err(), "'0' must be at least 1 ms");
    }
}
