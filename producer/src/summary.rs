//! What a run did, as the `producer_summary` log line and, with `--summary-file`, as a JSON file that scripts and
//! the experiment read instead of the log.
//!
//! The file is written to a temporary file beside the target and renamed over it, so a reader sees either no
//! file, the previous one, or the whole new one, never half of it.

use std::io::Write;
use std::path::{Path, PathBuf};

use tracing::info;

/// What a run did. `acked` counts records acknowledged by the broker; nothing is counted twice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Records handed to librdkafka.
    pub sent: u64,
    /// Records acknowledged by the broker (acks=all).
    pub acked: u64,
    /// Of `acked`, the new orders (the rest are status updates).
    pub acked_new_orders: u64,
    /// Records librdkafka gave up on; each was logged.
    pub failed: u64,
    /// Wall time of the run in milliseconds.
    pub elapsed_ms: u64,
    /// Times acknowledgements stopped for 2 s or more while records waited (each logged as `producer_waiting`).
    pub stalls: u64,
    /// The longest of those stalls that ended, in milliseconds.
    pub longest_stall_ms: u64,
}

/// The summary file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the summary file {path}: {source}")]
pub struct SummaryFileError {
    /// The file asked for with `--summary-file`.
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl Summary {
    /// Wall time in seconds (at least 1 ms, so a rate is always defined).
    pub fn elapsed_s(&self) -> f64 {
        (self.elapsed_ms as f64 / 1000.0).max(0.001)
    }

    /// Acknowledged records per second over the whole run, rounded.
    pub fn rate(&self) -> u64 {
        (self.acked as f64 / self.elapsed_s()).round() as u64
    }

    /// Logs the `producer_summary` line (its fields are the file's, less `unacknowledged`).
    pub fn log(&self) {
        info!(
            event = "producer_summary",
            sent = self.sent,
            acked = self.acked,
            acked_new_orders = self.acked_new_orders,
            failed = self.failed,
            stalls = self.stalls,
            longest_stall_ms = self.longest_stall_ms,
            elapsed_s = self.elapsed_s(),
            rate = self.rate() as f64,
            "producer finished"
        );
    }

    /// The summary as one JSON object. `unacknowledged` is what the final flush left in flight (0 after a
    /// complete flush; otherwise the producer also exits with an error).
    pub fn to_json(&self, unacknowledged: u64) -> serde_json::Value {
        serde_json::json!({
            "sent": self.sent,
            "acked": self.acked,
            "acked_new_orders": self.acked_new_orders,
            "failed": self.failed,
            "unacknowledged": unacknowledged,
            "elapsed_ms": self.elapsed_ms,
            "stalls": self.stalls,
            "longest_stall_ms": self.longest_stall_ms,
            "elapsed_s": self.elapsed_s(),
            "rate": self.rate(),
        })
    }

    /// Writes [`Summary::to_json`] to `path` atomically: a temporary file in the same directory, synced, then
    /// renamed over `path`.
    ///
    /// # Errors
    /// When the directory is missing or not writable, or the disk is full.
    pub fn write_file(&self, path: &Path, unacknowledged: u64) -> Result<(), SummaryFileError> {
        let error = |source| SummaryFileError { path: path.to_owned(), source };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let written = (|| {
            let mut file = std::fs::File::create(&temporary)?;
            let mut text = serde_json::to_vec_pretty(&self.to_json(unacknowledged)).map_err(std::io::Error::from)?;
            text.push(b'\n');
            file.write_all(&text)?;
            file.sync_all()?;
            std::fs::rename(&temporary, path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written.map_err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            sent: 10,
            acked: 9,
            acked_new_orders: 7,
            failed: 1,
            elapsed_ms: 2_000,
            stalls: 1,
            longest_stall_ms: 2_500,
        }
    }

    #[test]
    fn the_json_holds_every_figure_of_the_log_line() {
        let json = summary().to_json(0);
        for (field, value) in [
            ("sent", 10),
            ("acked", 9),
            ("acked_new_orders", 7),
            ("failed", 1),
            ("rate", 5),
            ("stalls", 1),
            ("longest_stall_ms", 2_500),
        ] {
            assert_eq!(json[field], value, "{field}");
        }
        assert_eq!(json["elapsed_s"], 2.0);
        assert_eq!(json["unacknowledged"], 0);
    }

    #[test]
    fn the_file_is_replaced_whole_and_no_temporary_file_is_left() {
        let dir = std::env::temp_dir().join(format!("producer-summary-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("summary.json");
        std::fs::write(&path, "old").unwrap();
        summary().write_file(&path, 3).unwrap();
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(json["unacknowledged"], 3);
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("summary.json")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let path = Path::new("/nonexistent-dir-for-this-test/summary.json");
        let err = summary().write_file(path, 0).unwrap_err();
        assert!(err.to_string().contains("/nonexistent-dir-for-this-test/summary.json"), "{err}");
    }
}
