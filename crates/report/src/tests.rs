use crate::*;

fn every_block() -> Report {
    let mut r = Report::new("shop <test>", "2024-03-01");
    r.subtitle.push("run 42".into());
    let bars = BarChart {
        title: "PSI <by> column".into(),
        x_label: "column".into(),
        y_label: "PSI".into(),
        bars: vec![
            Bar::new("events_30d", 0.4),
            Bar {
                highlight: true,
                ..Bar::new("<script>alert(1)</script>", 0.1)
            },
        ],
        threshold: Some(0.25),
    };
    let heat = Heatmap {
        title: "Retention".into(),
        columns: vec!["0".into(), "1".into()],
        rows: vec!["2024-01".into(), "2024-02".into()],
        values: vec![vec![Some(1.0), Some(0.4)], vec![Some(1.0), None]],
        percent: true,
        ..Heatmap::default()
    };
    let lines = LineChart {
        title: "ROC".into(),
        series: vec![Series {
            name: "gbdt".into(),
            points: vec![(0.0, 0.0), (0.2, 0.7), (1.0, 1.0)],
        }],
        diagonal: true,
        ..LineChart::default()
    };
    let table = TableBlock {
        title: "Clusters".into(),
        header: vec!["cluster".into(), "users".into()],
        rows: vec![vec!["a & b".into(), "3".into()]],
    };
    r.sections.push(
        Section::new("all", "Everything")
            .note("a note")
            .with(Block::Facts(vec![("rows".into(), "10".into())]))
            .with(Block::Bars(bars))
            .with(Block::Heatmap(heat))
            .with(Block::Lines(lines))
            .with(Block::Table(table)),
    );
    r
}

#[test]
fn every_block_renders_inline_with_no_url_and_text_escaped() {
    let html = every_block().to_html().unwrap();
    assert_eq!(html.matches("<svg").count(), 3, "three plots");
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.contains("<script"), "a label is text, never markup");
    assert!(html.contains("&lt;script&gt;"));
    assert!(html.contains("shop &lt;test&gt; · 2024-03-01"));
    assert!(html.contains("a &amp; b"));
    assert!(
        html.contains("viewBox=\"0 0 720 400\""),
        "plots scale with the page"
    );
    assert!(html.contains("<a href=\"#all\">Everything</a>"));
    assert!(html.contains("name=\"viewport\""));
}

#[test]
fn empty_and_degenerate_plots_still_draw() {
    let mut r = Report::new("j", "d");
    let flat = LineChart {
        title: "one point".into(),
        series: vec![Series {
            name: "a".into(),
            points: vec![(1.0, 1.0)],
        }],
        ..LineChart::default()
    };
    r.sections.push(
        Section::new("s", "S")
            .with(Block::Bars(BarChart {
                title: "no bars".into(),
                ..BarChart::default()
            }))
            .with(Block::Heatmap(Heatmap {
                title: "no cells".into(),
                ..Heatmap::default()
            }))
            .with(Block::Lines(flat))
            .with(Block::Bars(BarChart {
                title: "negative and NaN".into(),
                bars: vec![Bar::new("a", -1.0), Bar::new("b", f64::NAN)],
                ..BarChart::default()
            })),
    );
    let html = r.to_html().unwrap();
    assert_eq!(html.matches("<svg").count(), 4);
}

#[test]
fn short_numbers() {
    use crate::charts::short;
    let got: Vec<String> = [0.0, 0.456, 12.0, 1234.0, 56_789.0, 3_400_000.0]
        .map(short)
        .to_vec();
    assert_eq!(got, ["0", "0.46", "12", "1.2k", "57k", "3.4M"]);
}
