//! The experiment's chart, `timeline.svg`, drawn with `plotters`: three panels on one time axis, from the report's
//! 1 s samples. Rows stored per second per consumer, lag per partition, and the group's members and owners; each
//! phase's measured window is shaded and numbered, each rebalance event is a dashed line. Its panel ([`panel`])
//! also draws the soak's memory chart ([`crate::soak`]).

use std::collections::BTreeSet;
use std::ops::Range;

use plotters::coord::Shift;
use plotters::prelude::*;

use harness::sampler::Sample;

use crate::timeline::{Event, Phase};

pub(crate) const WIDTH: u32 = 960;
const PANEL_HEIGHT: u32 = 260;
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];
const PHASE_SHADE: RGBColor = RGBColor(238, 238, 238);
const EVENT_LINE: RGBColor = RGBColor(120, 120, 120);

/// One line of a panel: its legend and its points (seconds since the start, value).
pub(crate) struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// Draws the chart as an SVG document.
///
/// # Errors
/// When plotters cannot lay a panel out (it reports why).
pub fn render(timeline: &[Sample], phases: &[Phase], events: &[Event]) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 3 * PANEL_HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let areas = root.split_evenly((3, 1));
        let t_max = timeline.last().map_or(1.0, |s| s.t_s).max(1.0);
        let marks = Marks {
            windows: phases.iter().map(|p| (format!("phase {}", p.number), p.from_s..p.to_s)).collect(),
            lines: events.iter().map(|e| (e.at_s, None)).collect(),
            t: 0.0..t_max,
        };
        let panels = [
            ("Rows stored per second, per consumer", "rows/s", rows_per_second(timeline)),
            ("Lag per partition (log-end − committed offset)", "orders", lag(timeline)),
            ("Group members and partition owners", "consumers", members(timeline)),
        ]
        .into_iter()
        .zip(&areas);
        for ((title, unit, lines), area) in panels {
            panel(area, title, unit, &lines, &marks, SeriesLabelPosition::UpperRight)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// What a panel marks on its time axis, which spans `t`: shaded windows labelled at their start (the experiment's
/// phases), and dashed lines with or without a label (its rebalance events; the soak's steps).
pub(crate) struct Marks {
    pub windows: Vec<(String, Range<f64>)>,
    pub lines: Vec<(f64, Option<String>)>,
    pub t: Range<f64>,
}

/// One panel: its lines over time with their legend at `legend`, the marks behind them.
pub(crate) fn panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    unit: &str,
    lines: &[Line],
    marks: &Marks,
    legend: SeriesLabelPosition,
) -> anyhow::Result<()> {
    let y_max = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).fold(1.0_f64, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 15))
        .margin(10)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(marks.t.clone(), 0.0..y_max)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the start")
        .y_desc(unit)
        .x_label_formatter(&|t| format!("{t:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(WHITE)
        .draw()
        .map_err(plot_error)?;
    for (label, window) in &marks.windows {
        chart
            .draw_series([Rectangle::new([(window.start, 0.0), (window.end, y_max)], PHASE_SHADE.filled())])
            .map_err(plot_error)?;
        chart.draw_series([Text::new(label.clone(), (window.start, y_max), ("sans-serif", 11))]).map_err(plot_error)?;
    }
    for (at, label) in &marks.lines {
        let line = DashedLineSeries::new([(*at, 0.0), (*at, y_max)], 4, 3, EVENT_LINE.stroke_width(1));
        chart.draw_series(line).map_err(plot_error)?;
        if let Some(label) = label {
            chart.draw_series([Text::new(label.clone(), (*at, y_max), ("sans-serif", 11))]).map_err(plot_error)?;
        }
    }
    for (i, line) in lines.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(line.points.iter().copied(), color.stroke_width(2)))
            .map_err(plot_error)?
            .label(line.label.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

/// Per consumer, rows stored between consecutive samples divided by the time between them. A consumer is named by
/// the last 8 characters of its client id (the uuid8 that tells two on one host apart).
fn rows_per_second(timeline: &[Sample]) -> Vec<Line> {
    let consumers: BTreeSet<&String> = timeline.iter().flat_map(|s| s.rows.keys()).collect();
    consumers
        .into_iter()
        .map(|c| Line {
            label: format!("…{}", shared::client_id::uuid8(c)),
            points: timeline
                .windows(2)
                .map(|w| {
                    let stored = w[1].rows.get(c).copied().unwrap_or(0) - w[0].rows.get(c).copied().unwrap_or(0);
                    (w[1].t_s, stored as f64 / (w[1].t_s - w[0].t_s).max(0.001))
                })
                .collect(),
        })
        .collect()
}

/// Per partition, its lag in each sample that could read it (a partition appears once the topic has it).
fn lag(timeline: &[Sample]) -> Vec<Line> {
    let partitions = timeline.iter().map(|s| s.lag_by_partition.len()).max().unwrap_or(0);
    (0..partitions)
        .map(|p| Line {
            label: format!("partition {p}"),
            points: timeline.iter().filter_map(|s| s.lag_by_partition.get(p).map(|l| (s.t_s, *l as f64))).collect(),
        })
        .collect()
}

fn members(timeline: &[Sample]) -> Vec<Line> {
    let series = |label: &str, value: fn(&Sample) -> usize| Line {
        label: label.into(),
        points: timeline.iter().map(|s| (s.t_s, value(s) as f64)).collect(),
    };
    vec![series("members", |s| s.members), series("owners (members with partitions)", |s| s.owners)]
}

pub(crate) fn plot_error<E: std::error::Error + Send + Sync>(error: DrawingAreaErrorKind<E>) -> anyhow::Error {
    anyhow::anyhow!("drawing the chart: {error}")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn sample(t_s: f64, rows: &[(&str, i64)], lag_by_partition: Vec<i64>, members: usize) -> Sample {
        Sample {
            t_s,
            rows: rows.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect::<BTreeMap<_, _>>(),
            lag: lag_by_partition.iter().sum(),
            lag_by_partition,
            members,
            owners: 1,
        }
    }

    #[test]
    fn rates_are_rows_between_samples_over_the_time_between_them() {
        let timeline = [
            sample(0.0, &[("order-consumer-vm-0e9a446f", 0)], vec![0], 3),
            sample(2.0, &[("order-consumer-vm-0e9a446f", 400)], vec![5], 3),
            sample(3.0, &[("order-consumer-vm-0e9a446f", 600), ("order-consumer-vm-2217021a", 50)], vec![1, 9], 3),
        ];
        let rates = rows_per_second(&timeline);
        assert_eq!(rates[0].label, "…0e9a446f");
        assert_eq!(rates[0].points, [(2.0, 200.0), (3.0, 200.0)]);
        assert_eq!(rates[1].points, [(2.0, 0.0), (3.0, 50.0)]);
        let lags = lag(&timeline);
        assert_eq!(lags.len(), 2);
        assert_eq!(lags[1].points, [(3.0, 9.0)], "a new partition's line starts when it exists");
    }

    #[test]
    fn the_chart_has_three_titled_panels_with_axes_and_legends() {
        let timeline: Vec<Sample> = (0..30)
            .map(|t| sample(f64::from(t), &[("c-aaaaaaaa", i64::from(t) * 200)], vec![t.into(), 2], 3))
            .collect();
        let svg = render(&timeline, &[], &[]).expect("a chart");
        for text in
            ["Rows stored per second", "Lag per partition", "Group members", "seconds since the start", "rows/s"]
        {
            assert!(svg.contains(text), "missing {text:?}");
        }
        assert!(svg.contains("partition 1") && svg.contains("…aaaaaaaa"), "legends");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }
}
