//! Result rows and their outputs: the Markdown table, the pgbench ratios, the
//! `--json` file (written and read back by `--from-json`) and the SVG chart.

use serde_json::{json, Value};

use crate::chart;
use crate::scenarios::Scenario;
use crate::{Args, ScenarioArg};

/// One result row.
pub(crate) struct Row {
    pub(crate) label: String,
    pub(crate) scenario: &'static str,
    pub(crate) clients: usize,
    pub(crate) ops: u64,
    pub(crate) ops_per_sec: f64,
    pub(crate) conflicts_per_sec: f64,
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
    pub(crate) errors_5xx: u64,
    pub(crate) errors_other: u64,
    pub(crate) seconds: f64,
}

pub(crate) fn print_header() {
    println!(
        "| label | scenario | clients | ops | ops/s | conflicts/s | p50 ms | p99 ms | 5xx | other errors | seconds |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

pub(crate) fn print_row(r: &Row) {
    println!(
        "| {} | {} | {} | {} | {:.1} | {:.1} | {} | {} | {} | {} | {:.2} |",
        r.label,
        r.scenario,
        r.clients,
        r.ops,
        r.ops_per_sec,
        r.conflicts_per_sec,
        ms(r.p50_ms),
        ms(r.p99_ms),
        r.errors_5xx,
        r.errors_other,
        r.seconds
    );
}

fn row_json(r: &Row) -> Value {
    json!({
        "label": r.label,
        "scenario": r.scenario,
        "clients": r.clients,
        "ops": r.ops,
        "ops_per_sec": r.ops_per_sec,
        "conflicts_per_sec": r.conflicts_per_sec,
        "p50_ms": r.p50_ms,
        "p99_ms": r.p99_ms,
        "errors_5xx": r.errors_5xx,
        "errors_other": r.errors_other,
        "seconds": r.seconds,
    })
}

/// Each PostgreSQL cubby row of an edit scenario as a share of pgbench's
/// row with the same scenario and clients.
pub(crate) fn print_ratios(rows: &[Row]) {
    let limits: Vec<&Row> = rows.iter().filter(|r| r.label == "pgbench").collect();
    if limits.is_empty() {
        return;
    }
    println!();
    println!("| label | scenario | clients | cubby ops/s | pgbench ops/s | cubby / pgbench |");
    println!("|---|---|---:|---:|---:|---:|");
    for r in rows.iter().filter(|r| r.label.starts_with("postgres")) {
        let Some(limit) = limits
            .iter()
            .find(|l| l.scenario == r.scenario && l.clients == r.clients)
        else {
            continue;
        };
        let ratio = if limit.ops_per_sec > 0.0 {
            format!("{:.0}%", 100.0 * r.ops_per_sec / limit.ops_per_sec)
        } else {
            "-".into()
        };
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {ratio} |",
            r.label, r.scenario, r.clients, r.ops_per_sec, limit.ops_per_sec
        );
    }
}

/// The rows of a file `--json` wrote.
pub(crate) fn read_rows(path: &std::path::Path) -> Result<Vec<Row>, String> {
    let bad = |why: String| format!("{}: {why}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let all: Vec<Value> = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    all.iter()
        .map(|v| row_from_json(v).ok_or_else(|| bad(format!("not a result row: {v}"))))
        .collect()
}

fn row_from_json(v: &Value) -> Option<Row> {
    let name = v["scenario"].as_str()?;
    let scenario = Scenario::expand(ScenarioArg::All)
        .into_iter()
        .find(|s| s.name() == name)?;
    Some(Row {
        label: v["label"].as_str()?.to_owned(),
        scenario: scenario.name(),
        clients: usize::try_from(v["clients"].as_u64()?).ok()?,
        ops: v["ops"].as_u64()?,
        ops_per_sec: v["ops_per_sec"].as_f64()?,
        conflicts_per_sec: v["conflicts_per_sec"].as_f64()?,
        p50_ms: v["p50_ms"].as_f64(),
        p99_ms: v["p99_ms"].as_f64(),
        errors_5xx: v["errors_5xx"].as_u64()?,
        errors_other: v["errors_other"].as_u64()?,
        seconds: v["seconds"].as_f64()?,
    })
}

pub(crate) fn write_outputs(args: &Args, rows: &[Row]) -> Result<(), String> {
    if let Some(path) = &args.json {
        let all: Vec<Value> = rows.iter().map(row_json).collect();
        let text = serde_json::to_string_pretty(&all).map_err(|e| format!("json: {e}"))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        let seconds = rows.iter().map(|r| r.seconds).fold(0.0, f64::max);
        let title = format!("cubby-bench: successful ops/s, {seconds:.0} s per point");
        chart::write_svg(path, rows, &title)
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}
