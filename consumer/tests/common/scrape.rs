//! A consumer's `/metrics`, `/healthz` and `/readyz`, read over HTTP as Prometheus would.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::{TIMEOUT, eventually};

/// One scrape: each sample's name, labels and value.
#[derive(Debug, Default)]
pub struct Scrape {
    pub samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    /// Parses the exposition text (OpenMetrics or Prometheus'): every line that is not a comment is a sample.
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
                let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
                let (name, labels) = match series.split_once('{') {
                    Some((name, rest)) => (name, labels(rest.trim_end_matches('}'))),
                    None => (series, BTreeMap::new()),
                };
                (name.to_owned(), labels, value)
            })
            .collect();
        Self { samples }
    }

    /// The sum of every series of `name`; `None` when the scrape has none (a metric that does not exist).
    pub fn sum(&self, name: &str) -> Option<f64> {
        let values: Vec<f64> = self.samples.iter().filter(|(n, ..)| n == name).map(|(.., v)| *v).collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }

    /// The series of `name` whose labels include `with`.
    pub fn series(&self, name: &str, with: &[(&str, &str)]) -> Vec<(&BTreeMap<String, String>, f64)> {
        self.samples
            .iter()
            .filter(|(n, labels, _)| {
                n == name && with.iter().all(|(k, v)| labels.get(*k).map(String::as_str) == Some(v))
            })
            .map(|(_, labels, v)| (labels, *v))
            .collect()
    }
}

/// `k="v",k2="v2"` (values here hold no quotes or commas).
fn labels(text: &str) -> BTreeMap<String, String> {
    text.split(',')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
        .collect()
}

/// The address a process wrote to its `METRICS_ADDR_FILE`, once it did.
pub async fn metrics_addr(file: &Path) -> String {
    eventually(&format!("{} written", file.display()), TIMEOUT, || async {
        std::fs::read_to_string(file).map(|a| a.trim().to_owned()).map_err(|e| e.to_string())
    })
    .await
}

/// GET `http://{addr}{path}`: the status code and the body.
pub async fn get(addr: &str, path: &str) -> Result<(u16, String), String> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().map_err(|e| e.to_string())?;
    let response = client.get(format!("http://{addr}{path}")).send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.map_err(|e| e.to_string())?))
}

/// One scrape of `http://{addr}/metrics`.
pub async fn scrape(addr: &str) -> Result<Scrape, String> {
    let (status, body) = get(addr, "/metrics").await?;
    if status != 200 {
        return Err(format!("/metrics answered {status}: {body}"));
    }
    Ok(Scrape::parse(&body))
}
