//! Gradient-boosted decision trees for a binary outcome (log loss), with histogram splits.
//!
//! - Each feature is cut into at most `max_bins` value bins at quantiles of the training data,
//!   plus a bin for missing values (`NaN`), which always goes to the left child: a tree can
//!   still isolate it by splitting just above it.
//! - Trees grow depth-first to `max_depth`; a split needs `min_samples_leaf` rows on each side.
//!   The gain of a split is `G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)` over the sums of
//!   gradients `G` and hessians `H`; a leaf's value is `−G/(H+λ)` times the learning rate
//!   (XGBoost's second-order rule with L2 penalty `λ`).
//! - A child's histogram is built from its rows only for the smaller child; the larger one is
//!   the parent's minus the smaller's. Histograms are built in parallel over tasks of rows, or
//!   over features for small nodes (rayon); a task sums at most 16,384 rows in single precision
//!   before its cells join the double-precision histogram.
//! - With a validation set, boosting stops when its log loss has not improved for
//!   `early_stopping_rounds` trees, and the model keeps the trees up to the best one.
//! - Sample weights multiply gradients and hessians (class imbalance).
//! - Importance is the total gain of each feature's splits in the kept trees; per-row
//!   contributions follow each row's path (Saabas): the change in node value at a split is
//!   credited to the split's feature.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::logistic::{check_training, sigmoid};
use crate::metrics::row_log_loss;
use crate::{Matrix, ModelError, Result, Scorer};

/// Gradient-boosting settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GbdtParams {
    pub max_trees: usize,
    pub learning_rate: f64,
    pub max_depth: usize,
    pub min_samples_leaf: usize,
    /// `λ`, the L2 penalty on leaf values.
    pub l2: f64,
    /// Value bins per feature, at most 254 (one more bin holds missing values).
    pub max_bins: usize,
    /// Stop after this many trees without a better validation loss.
    pub early_stopping_rounds: usize,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            max_trees: 300,
            learning_rate: 0.1,
            max_depth: 6,
            min_samples_leaf: 20,
            l2: 1.0,
            max_bins: 254,
            early_stopping_rounds: 20,
        }
    }
}

/// One node of a tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Node {
    Leaf {
        value: f64,
        /// The training hessian sum through the node (0 in models saved before it was kept).
        #[serde(default)]
        cover: f64,
    },
    /// Rows with `NaN` or a value `<= threshold` go left.
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
        /// What the node would predict as a leaf (for contributions).
        value: f64,
        gain: f64,
        /// The training hessian sum through the node: its children's add up to it.
        #[serde(default)]
        cover: f64,
    },
}

/// A regression tree on the raw feature values; node 0 is the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    fn leaf_value(&self, row: &[f64]) -> f64 {
        let mut n = 0;
        loop {
            match &self.nodes[n] {
                Node::Leaf { value, .. } => return *value,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    ..
                } => {
                    let v = row[*feature];
                    n = if v.is_nan() || v <= *threshold {
                        *left
                    } else {
                        *right
                    };
                }
            }
        }
    }

    /// The training hessian sum through node `n`.
    pub(crate) fn cover(&self, n: usize) -> f64 {
        match &self.nodes[n] {
            Node::Leaf { cover, .. } | Node::Split { cover, .. } => *cover,
        }
    }

    fn node_value(&self, n: usize) -> f64 {
        match &self.nodes[n] {
            Node::Leaf { value, .. } | Node::Split { value, .. } => *value,
        }
    }
}

/// A fitted boosted model: `P(y = 1) = σ(base_score + Σ tree(x))`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gbdt {
    pub base_score: f64,
    pub trees: Vec<Tree>,
    /// Total split gain per feature in the kept trees.
    pub feature_gain: Vec<f64>,
    /// Validation log loss after each tree (empty without a validation set).
    pub validation_loss: Vec<f64>,
}

/// Quantile bin edges per feature: `bin(v) = 1 + #{edges < v}`, 0 for `NaN`.
struct Binner {
    edges: Vec<Vec<f64>>,
}

impl Binner {
    fn fit(x: &Matrix, max_bins: usize) -> Binner {
        // Quantiles from at most 200k evenly spaced rows.
        let step = (x.rows / 200_000).max(1);
        let edges = (0..x.cols)
            .into_par_iter()
            .map(|j| {
                let mut v: Vec<f64> = x.column(j).step_by(step).filter(|v| !v.is_nan()).collect();
                v.sort_by(f64::total_cmp);
                let mut distinct = v.clone();
                distinct.dedup();
                if distinct.len() <= max_bins {
                    distinct.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect()
                } else {
                    let mut e: Vec<f64> =
                        (1..max_bins).map(|q| v[q * v.len() / max_bins]).collect();
                    e.dedup();
                    // The top value as an edge would leave an empty last bin.
                    if e.last() == v.last() {
                        e.pop();
                    }
                    e
                }
            })
            .collect();
        Binner { edges }
    }

    /// Column-major bins.
    fn bin(&self, x: &Matrix) -> Vec<Vec<u8>> {
        (0..x.cols)
            .into_par_iter()
            .map(|j| {
                let e = &self.edges[j];
                x.column(j)
                    .map(|v| {
                        if v.is_nan() {
                            0
                        } else {
                            (1 + e.partition_point(|edge| *edge < v)) as u8
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// The raw threshold of "bin <= b".
    fn threshold(&self, feature: usize, b: usize) -> f64 {
        if b == 0 {
            f64::NEG_INFINITY
        } else {
            self.edges[feature][b - 1]
        }
    }
}

/// A row's gradient and hessian of the log loss. Single precision, as LightGBM, XGBoost and
/// scikit-learn keep them: half the memory traffic of the histogram passes, which sum them in
/// double precision.
type GradPair = [f32; 2];

/// Cells per feature in a histogram (bin 0 is `NaN`; at most 255 more).
const BINS: usize = 256;
/// Rows per parallel task of a histogram build.
const ROW_TASK: usize = 16_384;
/// Rows whose gradients are gathered at once, then added feature by feature.
const ROW_BLOCK: usize = 1024;
/// Features per parallel task of a small node's histogram.
const FEATURE_TASK: usize = 4;

/// A histogram cell while one task of at most [`ROW_TASK`] rows fills it: gradient, hessian,
/// rows and padding in single precision, so that one four-lane addition updates it (counts stay
/// exact below 2^24 rows). Each task's cells go into the double-precision histogram when it
/// ends, so no sum runs over more than [`ROW_TASK`] rows in single precision.
type TaskCell = [f32; 4];

/// Adds one row's gradient pair to its bin's cell.
#[inline(always)]
fn add(hist: &mut [TaskCell; BINS], bin: u8, [g, h]: GradPair) {
    let cell = &mut hist[bin as usize];
    let row = [g, h, 1.0, 0.0];
    for (c, r) in cell.iter_mut().zip(row) {
        *c += r;
    }
}

/// The histogram cells of the columns `cols` over the positions `range` of `rows` (or of
/// every row). Rows are taken [`ROW_BLOCK`] at a time and each block passes over every column
/// while its indices and gradients are in cache (column by column over all rows would stream
/// them from memory once per column).
fn fill(
    cols: &[Vec<u8>],
    gh: &[GradPair],
    rows: Option<&[u32]>,
    range: std::ops::Range<usize>,
) -> Vec<[f64; 3]> {
    let mut data: Vec<TaskCell> = vec![[0.0; 4]; cols.len() * BINS];
    let mut ordered: Vec<GradPair> = Vec::with_capacity(ROW_BLOCK);
    let mut start = range.start;
    while start < range.end {
        let block = start..(start + ROW_BLOCK).min(range.end);
        let hists = data.chunks_exact_mut(BINS).zip(cols);
        match rows {
            Some(rows) => {
                let index = &rows[block.clone()];
                ordered.clear();
                ordered.extend(index.iter().map(|&r| gh[r as usize]));
                for (hist, col) in hists {
                    let hist: &mut [TaskCell; BINS] = hist.try_into().expect("BINS cells");
                    for (&r, g) in index.iter().zip(&ordered) {
                        add(hist, col[r as usize], *g);
                    }
                }
            }
            None => {
                for (hist, col) in hists {
                    let hist: &mut [TaskCell; BINS] = hist.try_into().expect("BINS cells");
                    for (b, g) in col[block.clone()].iter().zip(&gh[block.clone()]) {
                        add(hist, *b, *g);
                    }
                }
            }
        }
        start = block.end;
    }
    data.iter()
        .map(|c| [f64::from(c[0]), f64::from(c[1]), f64::from(c[2])])
        .collect()
}

/// Gradient, hessian and row count per (feature, bin).
#[derive(Clone)]
struct Histogram {
    bins: usize,
    data: Vec<[f64; 3]>,
}

impl Histogram {
    /// The histogram of `rows`, or of every row when `rows` is `None` (the root: a straight
    /// pass over each column, no indirection). Tasks of [`ROW_TASK`] rows run in parallel and
    /// their histograms are added in order, so the sums do not depend on the number of threads.
    /// A node of at most [`ROW_TASK`] rows is one task, which runs in parallel over groups of
    /// [`FEATURE_TASK`] features instead (the same sums: each feature sees the same rows in the
    /// same order), so deep nodes keep every thread busy.
    fn build(bins: &[Vec<u8>], gh: &[GradPair], rows: Option<&[u32]>) -> Histogram {
        let n = rows.map_or(gh.len(), <[u32]>::len);
        if n <= ROW_TASK {
            let data = bins
                .par_chunks(FEATURE_TASK)
                .map(|cols| fill(cols, gh, rows, 0..n))
                .collect::<Vec<_>>()
                .concat();
            return Histogram { bins: BINS, data };
        }
        let merge = |mut a: Vec<[f64; 3]>, b: Vec<[f64; 3]>| {
            for (x, y) in a.iter_mut().zip(&b) {
                *x = [x[0] + y[0], x[1] + y[1], x[2] + y[2]];
            }
            a
        };
        let data = crate::fold_chunks(n, ROW_TASK, |range| fill(bins, gh, rows, range), merge)
            .expect("more than ROW_TASK rows");
        Histogram { bins: BINS, data }
    }

    /// Sums of gradients and hessians over the node (any feature's bins add up to them).
    fn totals(&self) -> (f64, f64) {
        self.feature(0)
            .iter()
            .fold((0.0, 0.0), |(g, h), c| (g + c[0], h + c[1]))
    }

    fn minus(&self, other: &Histogram) -> Histogram {
        let data = self
            .data
            .iter()
            .zip(&other.data)
            .map(|(a, b)| [a[0] - b[0], a[1] - b[1], a[2] - b[2]])
            .collect();
        Histogram {
            bins: self.bins,
            data,
        }
    }

    fn feature(&self, f: usize) -> &[[f64; 3]] {
        &self.data[f * self.bins..(f + 1) * self.bins]
    }
}

struct BestSplit {
    feature: usize,
    bin: usize,
    gain: f64,
    /// Gradient, hessian and row sums of each side.
    left: [f64; 3],
    right: [f64; 3],
}

/// Splits `rows` (in order) into those whose bin in `col` is at most `bin` and the rest, in
/// parallel tasks of [`ROW_TASK`] rows whose parts are joined in order.
fn partition(rows: &[u32], col: &[u8], bin: usize) -> (Vec<u32>, Vec<u32>) {
    let parts: Vec<(Vec<u32>, Vec<u32>)> = rows
        .par_chunks(ROW_TASK)
        .map(|chunk| partition_chunk(chunk, col, bin))
        .collect();
    if parts.len() == 1 {
        return parts.into_iter().next().expect("one part");
    }
    let (left, right): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
    (left.concat(), right.concat())
}

/// [`partition`] of one task, without a branch per row (a split is a coin toss for the branch
/// predictor): each row is written to both sides and only one side's length grows.
fn partition_chunk(rows: &[u32], col: &[u8], bin: usize) -> (Vec<u32>, Vec<u32>) {
    let (mut left, mut right) = (vec![0u32; rows.len()], vec![0u32; rows.len()]);
    let (mut l, mut r) = (0, 0);
    for &row in rows {
        let goes_left = usize::from(col[row as usize] as usize <= bin);
        left[l] = row;
        right[r] = row;
        l += goes_left;
        r += 1 - goes_left;
    }
    left.truncate(l);
    right.truncate(r);
    (left, right)
}

/// Rows, their outcomes and optional weights.
pub type Labelled<'a> = (&'a Matrix, &'a [bool], Option<&'a [f64]>);

/// A node waiting to be split or made a leaf.
struct Pending {
    node: usize,
    rows: Vec<u32>,
    /// `None` when the node cannot split (at the maximum depth or too few rows).
    hist: Option<Histogram>,
    depth: usize,
}

impl Pending {
    /// Sums of gradients and hessians over the node's rows.
    fn sums(&self, gh: &[GradPair]) -> (f64, f64) {
        match &self.hist {
            Some(hist) => hist.totals(),
            None => self.rows.iter().fold((0.0, 0.0), |(a, b), r| {
                let [g, h] = gh[*r as usize];
                (a + f64::from(g), b + f64::from(h))
            }),
        }
    }
}

impl GbdtParams {
    fn check(&self) -> Result<()> {
        let bad = |name, reason: &str| {
            Err(ModelError::InvalidParam {
                name,
                reason: reason.into(),
            })
        };
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return bad("learning_rate", "must be in (0, 1]");
        }
        if self.max_trees == 0 {
            return bad("max_trees", "must be at least 1");
        }
        if self.max_depth == 0 {
            return bad("max_depth", "must be at least 1");
        }
        if !(2..=254).contains(&self.max_bins) {
            return bad("max_bins", "must be in 2..=254");
        }
        if self.l2.is_nan() || self.l2 < 0.0 {
            return bad("l2", "must be >= 0");
        }
        Ok(())
    }

    /// Whether a node at `depth` with `rows` rows may split (both sides need
    /// `min_samples_leaf`).
    fn splittable(&self, depth: usize, rows: f64) -> bool {
        depth < self.max_depth && rows >= 2.0 * self.min_samples_leaf as f64
    }

    fn leaf(&self, g: f64, h: f64) -> f64 {
        -g / (h + self.l2) * self.learning_rate
    }

    fn score(&self, g: f64, h: f64) -> f64 {
        g * g / (h + self.l2)
    }

    fn best_split(&self, hist: &Histogram, n_features: usize) -> Option<BestSplit> {
        (0..n_features)
            .into_par_iter()
            .filter_map(|f| {
                let cells = hist.feature(f);
                let total = cells
                    .iter()
                    .fold([0.0; 3], |a, c| [a[0] + c[0], a[1] + c[1], a[2] + c[2]]);
                let parent = self.score(total[0], total[1]);
                let mut left = [0.0; 3];
                let mut best: Option<BestSplit> = None;
                for (b, c) in cells.iter().enumerate().take(hist.bins - 1) {
                    left = [left[0] + c[0], left[1] + c[1], left[2] + c[2]];
                    let right = [total[0] - left[0], total[1] - left[1], total[2] - left[2]];
                    if right[2] < self.min_samples_leaf as f64 {
                        break;
                    }
                    if left[2] < self.min_samples_leaf as f64 || c[2] == 0.0 {
                        continue;
                    }
                    let gain =
                        self.score(left[0], left[1]) + self.score(right[0], right[1]) - parent;
                    if gain > 1e-12 && best.as_ref().is_none_or(|s| gain > s.gain) {
                        best = Some(BestSplit {
                            feature: f,
                            bin: b,
                            gain,
                            left,
                            right,
                        });
                    }
                }
                best
            })
            .reduce_with(|a, b| {
                if b.gain > a.gain || (b.gain == a.gain && b.feature < a.feature) {
                    b
                } else {
                    a
                }
            })
    }

    /// Grows one tree; returns it and the value of each row's leaf.
    fn grow(&self, binner: &Binner, bins: &[Vec<u8>], gh: &[GradPair], out: &mut [f64]) -> Tree {
        let rows: Vec<u32> = (0..gh.len() as u32).collect();
        let hist = Some(Histogram::build(bins, gh, None));
        let mut nodes = vec![Node::Leaf {
            value: 0.0,
            cover: 0.0,
        }];
        let mut stack = vec![Pending {
            node: 0,
            rows,
            hist,
            depth: 0,
        }];
        while let Some(p) = stack.pop() {
            let (gs, hs) = p.sums(gh);
            let value = self.leaf(gs, hs);
            let split = p
                .hist
                .as_ref()
                .and_then(|hist| self.best_split(hist, bins.len()));
            let Some(s) = split else {
                nodes[p.node] = Node::Leaf { value, cover: hs };
                for r in &p.rows {
                    out[*r as usize] = value;
                }
                continue;
            };
            let (left, right) = (nodes.len(), nodes.len() + 1);
            let placeholder = Node::Leaf {
                value: 0.0,
                cover: 0.0,
            };
            nodes.extend([placeholder.clone(), placeholder]);
            nodes[p.node] = Node::Split {
                feature: s.feature,
                threshold: binner.threshold(s.feature, s.bin),
                left,
                right,
                value,
                gain: s.gain,
                cover: hs,
            };
            let depth = p.depth + 1;
            if !self.splittable(depth, s.left[2]) && !self.splittable(depth, s.right[2]) {
                self.leaf_children(
                    &mut nodes,
                    [left, right],
                    &s,
                    &p.rows,
                    &bins[s.feature],
                    out,
                );
                continue;
            }
            stack.extend(self.children(p, [left, right], &s, bins, gh));
        }
        Tree { nodes }
    }

    /// Makes both children of split `s` leaves: their values come from the split's sums, and
    /// one pass over the node's `rows` assigns them in `out` (no partition, no sums per side).
    fn leaf_children(
        &self,
        nodes: &mut [Node],
        [left, right]: [usize; 2],
        s: &BestSplit,
        rows: &[u32],
        col: &[u8],
        out: &mut [f64],
    ) {
        let [lv, rv] = [s.left, s.right].map(|[g, h, _]| self.leaf(g, h));
        nodes[left] = Node::Leaf {
            value: lv,
            cover: s.left[1],
        };
        nodes[right] = Node::Leaf {
            value: rv,
            cover: s.right[1],
        };
        for &r in rows {
            out[r as usize] = if col[r as usize] as usize <= s.bin {
                lv
            } else {
                rv
            };
        }
    }

    /// The two children of `p` split by `s`, the smaller last (it is grown first). Only the
    /// smaller child's histogram is built from its rows; the larger's is the parent's minus it;
    /// children that cannot split get none (the deepest level is never built).
    fn children(
        &self,
        p: Pending,
        [left, right]: [usize; 2],
        s: &BestSplit,
        bins: &[Vec<u8>],
        gh: &[GradPair],
    ) -> [Pending; 2] {
        let (l_rows, r_rows) = partition(&p.rows, &bins[s.feature], s.bin);
        let (small, large) = if l_rows.len() <= r_rows.len() {
            ((left, l_rows), (right, r_rows))
        } else {
            ((right, r_rows), (left, l_rows))
        };
        let depth = p.depth + 1;
        let can_split = |rows: &[u32]| self.splittable(depth, rows.len() as f64);
        let (small_hist, large_hist) = if can_split(&small.1) || can_split(&large.1) {
            let parent = p.hist.as_ref().expect("a node that split has a histogram");
            let small_hist = Histogram::build(bins, gh, Some(&small.1));
            let large_hist = parent.minus(&small_hist);
            (Some(small_hist), Some(large_hist))
        } else {
            (None, None)
        };
        [
            Pending {
                node: large.0,
                rows: large.1,
                hist: large_hist,
                depth,
            },
            Pending {
                node: small.0,
                rows: small.1,
                hist: small_hist,
                depth,
            },
        ]
    }

    /// Fits on `x` (missing values allowed), outcomes `y`, optional sample weights, and an
    /// optional validation set for early stopping (weighted like the training set).
    pub fn fit(
        &self,
        x: &Matrix,
        y: &[bool],
        w: Option<&[f64]>,
        validation: Option<Labelled>,
    ) -> Result<Gbdt> {
        self.check()?;
        check_training(x, y, w)?;
        if let Some((vx, vy, _)) = validation
            && (vx.cols != x.cols || vy.len() != vx.rows)
        {
            return Err(ModelError::Shape {
                what: "validation set columns",
                expected: x.cols,
                found: vx.cols,
            });
        }
        let weight = |i: usize| w.map_or(1.0, |w| w[i]);
        let (wp, wt) = (0..x.rows).fold((0.0, 0.0), |(p, t), i| {
            (p + weight(i) * y[i] as u8 as f64, t + weight(i))
        });
        let base_score = (wp / (wt - wp)).ln();
        let binner = Binner::fit(x, self.max_bins);
        let bins = binner.bin(x);
        let n = x.rows;
        let mut f = vec![base_score; n];
        let mut gh: Vec<GradPair> = vec![[0.0; 2]; n];
        let mut leaf = vec![0.0; n];
        let mut vf = validation.map(|(vx, _, _)| vec![base_score; vx.rows]);
        let mut trees = vec![];
        let mut validation_loss = vec![];
        let mut best = (f64::INFINITY, 0usize);
        for round in 0..self.max_trees {
            gh.par_iter_mut().enumerate().for_each(|(i, v)| {
                let p = sigmoid(f[i]);
                let wi = weight(i);
                *v = [
                    (wi * (p - y[i] as u8 as f64)) as f32,
                    (wi * p * (1.0 - p)) as f32,
                ];
            });
            let tree = self.grow(&binner, &bins, &gh, &mut leaf);
            f.par_iter_mut().zip(&leaf).for_each(|(fi, l)| *fi += l);
            if let (Some((vx, vy, vw)), Some(vf)) = (validation, vf.as_mut()) {
                vf.par_iter_mut()
                    .enumerate()
                    .for_each(|(i, v)| *v += tree.leaf_value(vx.row(i)));
                let loss = log_loss(vy, vw, vf);
                validation_loss.push(loss);
                if loss < best.0 - 1e-12 {
                    best = (loss, round + 1);
                }
            }
            trees.push(tree);
            if validation.is_some() && round + 1 - best.1 >= self.early_stopping_rounds.max(1) {
                break;
            }
        }
        if validation.is_some() {
            trees.truncate(best.1);
        }
        Ok(Gbdt {
            base_score,
            feature_gain: gain_per_feature(&trees, x.cols),
            trees,
            validation_loss,
        })
    }
}

/// The weighted mean log loss of the log-odds `f` for outcomes `y` (weights `w`, or 1).
fn log_loss(y: &[bool], w: Option<&[f64]>, f: &[f64]) -> f64 {
    let (loss, total) = crate::fold_chunks(
        y.len(),
        8192,
        |rows| {
            rows.fold((0.0, 0.0), |(l, t), i| {
                let wi = w.map_or(1.0, |w| w[i]);
                (l + wi * row_log_loss(y[i], sigmoid(f[i])), t + wi)
            })
        },
        |a, b| (a.0 + b.0, a.1 + b.1),
    )
    .unwrap_or((0.0, 0.0));
    loss / total.max(f64::MIN_POSITIVE)
}

/// The total split gain of each of `cols` features over `trees`.
fn gain_per_feature(trees: &[Tree], cols: usize) -> Vec<f64> {
    let mut gain_of = vec![0.0; cols];
    for t in trees {
        for n in &t.nodes {
            if let Node::Split { feature, gain, .. } = n {
                gain_of[*feature] += gain;
            }
        }
    }
    gain_of
}

impl Scorer for Gbdt {
    fn decision(&self, row: &[f64]) -> f64 {
        self.base_score + self.trees.iter().map(|t| t.leaf_value(row)).sum::<f64>()
    }
}

impl Gbdt {
    /// Each feature's share of a row's log-odds along its paths (Saabas). With the base score
    /// and the trees' root values, they sum to [`Gbdt::decision`].
    pub fn contributions(&self, row: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; row.len()];
        for t in &self.trees {
            let mut n = 0;
            while let Node::Split {
                feature,
                threshold,
                left,
                right,
                value,
                ..
            } = &t.nodes[n]
            {
                let v = row[*feature];
                let next = if v.is_nan() || v <= *threshold {
                    *left
                } else {
                    *right
                };
                out[*feature] += t.node_value(next) - value;
                n = next;
            }
        }
        out
    }

    /// What [`Gbdt::contributions`] leaves out: the base score plus every root's value.
    pub fn bias(&self) -> f64 {
        self.base_score + self.trees.iter().map(|t| t.node_value(0)).sum::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logistic::LogisticParams;
    use crate::metrics::roc_auc;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Churn when the user has gone quiet while heavy, or is recent while light: an
    /// interaction (an XOR) that no linear score can draw, with 10% label noise.
    fn nonlinear(n: usize, seed: u64) -> (Matrix, Vec<bool>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut rows = vec![];
        let mut y = vec![];
        for _ in 0..n {
            let recency: f64 = rng.gen_range(0.0..60.0);
            let events: f64 = rng.gen_range(0.0..20.0);
            let noise: f64 = rng.gen_range(0.0..1.0);
            let missing = rng.gen_bool(0.05);
            let churn = (recency > 30.0) != (events > 10.0);
            rows.push(vec![
                recency,
                if missing { f64::NAN } else { events },
                noise,
            ]);
            y.push(churn ^ rng.gen_bool(0.1));
        }
        (Matrix::from_rows(&rows).unwrap(), y)
    }

    #[test]
    fn beats_logistic_regression_on_a_nonlinear_rule() {
        let (x, y) = nonlinear(6000, 1);
        let (vx, vy) = nonlinear(2000, 2);
        let (tx, ty) = nonlinear(4000, 3);
        let gb = GbdtParams::default()
            .fit(&x, &y, None, Some((&vx, &vy, None)))
            .unwrap();
        let auc_gb = roc_auc(&ty, &gb.predict_proba(&tx)).unwrap();
        let fill = |m: &Matrix| Matrix {
            data: m
                .data
                .iter()
                .map(|v| if v.is_nan() { 10.0 } else { *v })
                .collect(),
            ..m.clone()
        };
        let lr = LogisticParams::default().fit(&fill(&x), &y, None).unwrap();
        let auc_lr = roc_auc(&ty, &lr.predict_proba(&fill(&tx))).unwrap();
        // With 10% flipped labels the best possible AUC is about 0.9.
        assert!(auc_gb > 0.85, "GBDT {auc_gb}");
        assert!(auc_gb > auc_lr + 0.1, "GBDT {auc_gb} vs logistic {auc_lr}");
        // The noise column earns almost nothing.
        let total: f64 = gb.feature_gain.iter().sum();
        assert!(gb.feature_gain[2] / total < 0.05, "{:?}", gb.feature_gain);
        assert!(
            gb.trees.len() < 300,
            "early stopping kept {} trees",
            gb.trees.len()
        );
    }

    #[test]
    fn contributions_add_up_to_the_score() {
        let (x, y) = nonlinear(2000, 4);
        let gb = GbdtParams {
            max_trees: 20,
            ..Default::default()
        }
        .fit(&x, &y, None, None)
        .unwrap();
        for i in 0..50 {
            let row = x.row(i);
            let sum: f64 = gb.contributions(row).iter().sum::<f64>() + gb.bias();
            assert!((sum - gb.decision(row)).abs() < 1e-9);
        }
    }

    #[test]
    fn a_single_split_by_hand() {
        // y = (x > 2.5); one tree of depth 1, no penalty, learning rate 1: the split lands
        // between 2 and 3 and the leaves move the base score towards each side's log-odds.
        let x = Matrix::from_rows(&(0..6).map(|v| vec![v as f64]).collect::<Vec<_>>()).unwrap();
        let y = [false, false, false, true, true, true];
        let p = GbdtParams {
            max_trees: 1,
            max_depth: 1,
            min_samples_leaf: 1,
            l2: 0.0,
            learning_rate: 1.0,
            ..Default::default()
        };
        let gb = p.fit(&x, &y, None, None).unwrap();
        match &gb.trees[0].nodes[0] {
            Node::Split {
                feature: 0,
                threshold,
                ..
            } => assert_eq!(*threshold, 2.5),
            other => panic!("{other:?}"),
        }
        // Base score 0 (p = 1/2): left leaf = −G/H = −(3 · 0.5)/(3 · 0.25) = −2.
        assert_eq!(gb.base_score, 0.0);
        assert!((gb.decision(&[0.0]) + 2.0).abs() < 1e-12);
        assert!((gb.decision(&[5.0]) - 2.0).abs() < 1e-12);
    }
}
