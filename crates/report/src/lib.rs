//! The run report: a page of sections, each a list of blocks (facts, tables, bar charts,
//! heatmaps, line charts), rendered as one self-contained HTML file with inline SVG plots drawn
//! by `plotters`. It knows nothing of runs or tables: the pipeline gathers a [`Report`] and
//! calls [`Report::to_html`].
//!
//! ```
//! use lifecycle_report::{Bar, BarChart, Block, Report, Section};
//! let mut report = Report::new("shop", "2024-03-01");
//! report.sections.push(Section::new("stages", "Stages").with(Block::Bars(BarChart {
//!     title: "Users by stage".into(),
//!     bars: vec![Bar::new("active", 120.0), Bar::new("churned", 30.0)],
//!     ..BarChart::default()
//! })));
//! let html = report.to_html().unwrap();
//! assert!(html.contains("<svg") && html.contains("Users by stage"));
//! assert!(!html.contains("http://") && !html.contains("https://"));
//! ```

mod charts;
mod html;
mod model;

pub use model::{Bar, BarChart, Block, Heatmap, LineChart, Report, Section, Series, TableBlock};

/// A plot could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing the plot `{plot}`: {reason}")]
pub struct ReportError {
    pub plot: String,
    pub reason: String,
}

#[cfg(test)]
mod tests;
