//! Report rendering from fixed results: the table's rows and columns, the CSV's shape, the
//! SVGs as XML with named axes, and re-rendering several result directories side by side.

use sluice_bench::api::ApiKind;
use sluice_bench::load::Load;
use sluice_bench::monitor::ResourceUsage;
use sluice_bench::record::{RequestRecord, TokenSource};
use sluice_bench::report;
use sluice_bench::results::{BenchResults, LevelResult, RunResult};
use sluice_bench::settings::SweepSettings;
use sluice_bench::summary::{LevelSummary, Slo};
use std::path::Path;

fn record(i: usize, ttft: f64, e2e: f64) -> RequestRecord {
    RequestRecord {
        prompt_index: i,
        start_s: 0.0,
        e2e_s: e2e,
        ttft_s: Some(ttft),
        output_tokens: 10,
        output_token_source: TokenSource::Server,
        input_tokens: 20,
        input_token_source: TokenSource::Server,
        error: None,
        error_message: None,
        itl_s: vec![0.01; 9],
        retries: 0,
    }
}

fn run(speculate: &str, speed: f64) -> RunResult {
    let mut r = RunResult::new(
        "sluice".into(),
        "http://x",
        ApiKind::Tgi,
        SweepSettings::default(),
    );
    r.settings.insert("speculate".into(), speculate.into());
    for c in [1, 8] {
        let records: Vec<RequestRecord> = (0..4)
            .map(|i| record(i, 0.05 * f64::from(c), 1.0 / speed))
            .collect();
        r.levels.push(LevelResult {
            load: Load::Concurrency(c),
            summary: LevelSummary::of(&records, 2.0 / (speed * f64::from(c)), &Slo::default()),
            client_cpu_s: 0.01,
            server_usage: ResourceUsage {
                samples: 3,
                cpu_percent_mean: Some(150.0),
                cpu_percent_max: Some(190.0),
                rss_mib_max: Some(140.0),
                ..Default::default()
            },
            requests: records,
        });
    }
    r
}

fn write_results(dir: &Path) -> BenchResults {
    let results = BenchResults::new(vec![run("0", 1.0), run("2", 1.5)]);
    report::write_all(dir, &results).unwrap();
    results
}

fn table_rows<'a>(md: &'a str, heading: &str) -> Vec<Vec<&'a str>> {
    md.split(heading)
        .nth(1)
        .unwrap()
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect()
}

#[test]
fn markdown_table_has_a_row_per_run_and_level() {
    let dir = tempfile::tempdir().unwrap();
    write_results(dir.path());
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    let rows = table_rows(&md, "## Throughput");
    let header = &rows[0];
    for col in [
        "engine",
        "settings",
        "load",
        "time (s)",
        "out tok/s",
        "TTFT p50 (ms)",
        "TTFT p99 (ms)",
        "errors",
    ] {
        assert!(header.contains(&col), "column {col}");
    }
    let body = &rows[2..];
    assert_eq!(body.len(), 4);
    assert_eq!(body[3][..3], ["sluice", "speculate=2", "c=8"]);
    assert!(body.iter().all(|r| r.len() == header.len()));
    let out_tok = header.iter().position(|c| *c == "out tok/s").unwrap();
    assert_eq!(body[0][out_tok], "20.0"); // 40 tokens in 2 s
    assert!(md.contains("(server)"), "token sources are stated");
    assert!(md.contains("![throughput.svg](plots/throughput.svg)"));
}

#[test]
fn csv_rows_match_the_header() {
    let dir = tempfile::tempdir().unwrap();
    write_results(dir.path());
    let csv = std::fs::read_to_string(dir.path().join("results.csv")).unwrap();
    let lines: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|l| l.len() == lines[0].len()));
    assert_eq!(
        lines[1][..5],
        ["sluice", "speculate=0", "tgi", "concurrency", "1"]
    );
}

#[test]
fn svgs_are_xml_with_named_axes_and_a_line_per_series() {
    let dir = tempfile::tempdir().unwrap();
    write_results(dir.path());
    let plots = dir.path().join("plots");
    let mut names: Vec<String> = std::fs::read_dir(&plots)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "latency-sluice_speculate=0.svg",
            "latency-sluice_speculate=2.svg",
            "setting-speculate.svg",
            "throughput.svg",
            "ttft_p99.svg",
        ]
    );
    for name in &names {
        let text = std::fs::read_to_string(plots.join(name)).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let label = |class: &str| {
            doc.descendants()
                .find(|n| n.attribute("class") == Some(class))
                .and_then(|n| n.text())
                .unwrap_or_default()
                .to_string()
        };
        assert!(
            !label("x-label").is_empty() && !label("y-label").is_empty(),
            "{name}"
        );
    }
    let throughput = std::fs::read_to_string(plots.join("throughput.svg")).unwrap();
    let doc = roxmltree::Document::parse(&throughput).unwrap();
    let lines = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("series"))
        .count();
    assert_eq!(lines, 2);
    assert!(throughput.contains("concurrency (requests in flight)"));
    assert!(throughput.contains("output tokens/s"));
    assert!(throughput.contains("sluice speculate=2"));
}

#[test]
fn report_combines_directories_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, out) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("both"),
    );
    write_results(&a);
    write_results(&b);
    report::combine(&[a.clone(), b], Some(&out)).unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let rows = table_rows(&md, "## Throughput");
    assert_eq!(rows.len() - 2, 8);
    assert!(
        rows.iter().any(|r| r[0] == "b/sluice"),
        "same labels are told apart by directory"
    );
    // One directory re-renders in place, from results.json alone.
    std::fs::remove_file(a.join("report.md")).unwrap();
    assert_eq!(report::combine(std::slice::from_ref(&a), None).unwrap(), a);
    assert!(a.join("report.md").exists());
    let err = report::combine(&[a.clone(), out.clone()], None).unwrap_err();
    assert!(err.to_string().contains("--out"));
}

#[test]
fn results_from_a_newer_schema_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("results.json"), r#"{"schema_version": 99}"#).unwrap();
    let err = BenchResults::read(dir.path()).unwrap_err().to_string();
    assert!(err.contains("schema version 99"), "{err}");
    std::fs::write(dir.path().join("results.json"), "{}").unwrap();
    assert!(BenchResults::read(dir.path())
        .unwrap_err()
        .to_string()
        .contains("no schema_version"));
}
