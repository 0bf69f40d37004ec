//! `--svg FILE`: successful ops/s against clients, one panel per scenario and
//! one line per label (`sqlite-1`, `postgres-1`, `postgres-3`, `pgbench`, …).

use std::path::Path;

use plotters::prelude::*;

use crate::report::Row;

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Things in the order they first appear (labels and scenarios keep the
/// order the run produced them in).
fn first_seen<T: PartialEq + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

pub fn write_svg(path: &Path, rows: &[Row], title: &str) -> Result<(), String> {
    let scenarios = first_seen(rows.iter().map(|r| r.scenario));
    let labels = first_seen(rows.iter().map(|r| r.label.clone()));
    if scenarios.is_empty() {
        return Err("no results to draw".into());
    }
    let cols = scenarios.len().min(3);
    let rows_of_panels = scenarios.len().div_ceil(cols);
    let size = (420 * cols as u32, 320 * rows_of_panels as u32 + 40);
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(title, ("sans-serif", 20))
        .map_err(|e| e.to_string())?;
    let panels = root.split_evenly((rows_of_panels, cols));
    for (panel, scenario) in panels.iter().zip(&scenarios) {
        draw_panel(panel, scenario, rows, &labels).map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    scenario: &str,
    rows: &[Row],
    labels: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    let mine: Vec<&Row> = rows.iter().filter(|r| r.scenario == scenario).collect();
    // Client counts are evenly spaced, whatever their values (1, 8, 32, 64):
    // the x axis is their position, labelled with the count.
    let mut counts: Vec<usize> = mine.iter().map(|r| r.clients).collect();
    counts.sort_unstable();
    counts.dedup();
    let position = |clients: usize| counts.iter().position(|&c| c == clients).unwrap_or(0) as f64;
    let last = counts.len().saturating_sub(1) as f64;
    // Head room above the highest point keeps the legend off the lines.
    let max_ops = mine.iter().map(|r| r.ops_per_sec).fold(1.0, f64::max) * 1.6;
    let mut chart = ChartBuilder::on(area)
        .caption(scenario, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(-0.3f64..last + 0.3, 0f64..max_ops)?;
    chart
        .configure_mesh()
        .x_desc("clients")
        .y_desc("successful ops/s")
        .x_labels(counts.len())
        .x_label_formatter(&|x| {
            let i = x.round();
            match counts.get(i as usize) {
                Some(c) if (x - i).abs() < 0.01 && i >= 0.0 => c.to_string(),
                _ => String::new(),
            }
        })
        .y_label_formatter(&|y| format!("{y:.0}"))
        .light_line_style(WHITE)
        .draw()?;
    for (i, label) in labels.iter().enumerate() {
        let mut points: Vec<(f64, f64)> = mine
            .iter()
            .filter(|r| &r.label == label)
            .map(|r| (position(r.clients), r.ops_per_sec))
            .collect();
        if points.is_empty() {
            continue;
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}
