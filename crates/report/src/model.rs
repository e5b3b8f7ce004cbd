//! What a report holds: sections of blocks, plain data with no run types.

/// The whole page.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The job's name.
    pub job: String,
    /// The run date (the cutoff), as text.
    pub run_date: String,
    /// Lines under the title (run id, engine, what it was compared with).
    pub subtitle: Vec<String>,
    pub sections: Vec<Section>,
}

impl Report {
    pub fn new(job: &str, run_date: &str) -> Report {
        Report {
            job: job.to_string(),
            run_date: run_date.to_string(),
            subtitle: vec![],
            sections: vec![],
        }
    }
}

/// One section: a heading, notes and blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Its anchor (`#id`), unique in the page.
    pub id: String,
    pub title: String,
    /// Short paragraphs under the heading.
    pub notes: Vec<String>,
    pub blocks: Vec<Block>,
}

impl Section {
    pub fn new(id: &str, title: &str) -> Section {
        Section {
            id: id.to_string(),
            title: title.to_string(),
            notes: vec![],
            blocks: vec![],
        }
    }

    /// The section with `block` added.
    pub fn with(mut self, block: Block) -> Section {
        self.blocks.push(block);
        self
    }

    /// The section with a note added.
    pub fn note(mut self, text: impl Into<String>) -> Section {
        self.notes.push(text.into());
        self
    }
}

/// A piece of a section.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Label and value pairs.
    Facts(Vec<(String, String)>),
    Table(TableBlock),
    Bars(BarChart),
    Heatmap(Heatmap),
    Lines(LineChart),
}

/// A table of text cells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableBlock {
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Vertical bars, one per label.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BarChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub bars: Vec<Bar>,
    /// A horizontal line drawn across (e.g. a limit), if any.
    pub threshold: Option<f64>,
}

/// One bar; a highlighted bar is drawn in the warning colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub highlight: bool,
}

impl Bar {
    pub fn new(label: impl Into<String>, value: f64) -> Bar {
        Bar {
            label: label.into(),
            value,
            highlight: false,
        }
    }
}

/// A grid of cells coloured by value (a missing cell stays blank).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Heatmap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Column labels, left to right.
    pub columns: Vec<String>,
    /// Row labels, top to bottom.
    pub rows: Vec<String>,
    /// `values[row][column]`.
    pub values: Vec<Vec<Option<f64>>>,
    /// Whether the values are shares (printed as percentages).
    pub percent: bool,
}

/// Lines through points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Draw the `y = x` diagonal (ROC, calibration, actual vs predicted).
    pub diagonal: bool,
}

/// One named line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}
