//! The page: a header, a table of contents and the sections, with the CSS inline and the plots
//! as inline SVG. No scripts, fonts, images or links to anything outside the file.

use std::fmt::Write;

use crate::model::{Block, Report, Section, TableBlock};
use crate::{ReportError, charts};

/// Narrow screens get one column and smaller type; plots scale to the width.
const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9;line-height:1.45}
header{background:#1d2330;color:#fff;padding:1.2rem 1.5rem}
header h1{margin:0;font-size:1.5rem}
header p{margin:.2rem 0 0;color:#c9d0dc;font-size:.9rem}
nav{padding:.6rem 1.5rem;background:#fff;border-bottom:1px solid #dde1e7;font-size:.9rem;display:flex;flex-wrap:wrap;gap:.3rem 1rem}
nav a{color:#3b6ea5;text-decoration:none;white-space:nowrap}
main{max-width:1100px;margin:0 auto;padding:1rem}
section{background:#fff;border:1px solid #dde1e7;border-radius:8px;margin:1rem 0;padding:1rem 1.2rem}
section h2{margin:.2rem 0 .6rem;font-size:1.25rem}
.note{color:#4a5466;margin:.3rem 0}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:1rem;margin:.6rem 0}
.plot svg{width:100%;height:auto;display:block}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.4rem 0}
dl.facts dt{color:#4a5466}dl.facts dd{margin:0;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.9rem;margin:.4rem 0;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #e6e9ee;padding:.25rem .6rem;text-align:left}
th{background:#f0f2f5}
caption{text-align:left;font-weight:600;padding:.3rem 0}
@media (max-width:640px){.plots{grid-template-columns:1fr}main{padding:.4rem}section{padding:.8rem}header h1{font-size:1.2rem}}
";

/// `text` safe inside HTML text and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Report {
    /// The page as one HTML document.
    pub fn to_html(&self) -> Result<String, ReportError> {
        let title = format!("{} · {}", self.job, self.run_date);
        let mut page = String::new();
        let _ = write!(
            page,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{}</title><style>{CSS}</style></head><body>\
             <header><h1>{}</h1>",
            escape(&title),
            escape(&title)
        );
        for line in &self.subtitle {
            let _ = write!(page, "<p>{}</p>", escape(line));
        }
        page.push_str("</header><nav>");
        for s in &self.sections {
            let _ = write!(
                page,
                "<a href=\"#{}\">{}</a>",
                escape(&s.id),
                escape(&s.title)
            );
        }
        page.push_str("</nav><main>");
        for s in &self.sections {
            section(&mut page, s)?;
        }
        page.push_str("</main></body></html>\n");
        Ok(page)
    }
}

fn section(page: &mut String, s: &Section) -> Result<(), ReportError> {
    let _ = write!(
        page,
        "<section id=\"{}\"><h2>{}</h2>",
        escape(&s.id),
        escape(&s.title)
    );
    for n in &s.notes {
        let _ = write!(page, "<p class=\"note\">{}</p>", escape(n));
    }
    let mut plots = vec![];
    for b in &s.blocks {
        match b {
            Block::Bars(c) => plots.push(charts::bars(c)?),
            Block::Heatmap(h) => plots.push(charts::heatmap(h)?),
            Block::Lines(l) => plots.push(charts::lines(l)?),
            Block::Facts(f) => {
                flush(page, &mut plots);
                facts(page, f);
            }
            Block::Table(t) => {
                flush(page, &mut plots);
                table(page, t);
            }
        }
    }
    flush(page, &mut plots);
    page.push_str("</section>");
    Ok(())
}

/// Writes the plots gathered so far as one grid.
fn flush(page: &mut String, plots: &mut Vec<String>) {
    if plots.is_empty() {
        return;
    }
    page.push_str("<div class=\"plots\">");
    for p in plots.drain(..) {
        let _ = write!(page, "<div class=\"plot\">{p}</div>");
    }
    page.push_str("</div>");
}

fn facts(page: &mut String, facts: &[(String, String)]) {
    page.push_str("<dl class=\"facts\">");
    for (k, v) in facts {
        let _ = write!(page, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(v));
    }
    page.push_str("</dl>");
}

fn table(page: &mut String, t: &TableBlock) {
    page.push_str("<div class=\"scroll\"><table>");
    if !t.title.is_empty() {
        let _ = write!(page, "<caption>{}</caption>", escape(&t.title));
    }
    page.push_str("<tr>");
    for h in &t.header {
        let _ = write!(page, "<th>{}</th>", escape(h));
    }
    page.push_str("</tr>");
    for row in &t.rows {
        page.push_str("<tr>");
        for cell in row {
            let _ = write!(page, "<td>{}</td>", escape(cell));
        }
        page.push_str("</tr>");
    }
    page.push_str("</table></div>");
}
