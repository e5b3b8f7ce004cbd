//! Exact SHAP values of a boosted tree ensemble (path-dependent TreeSHAP, Lundberg, Erion & Lee
//! 2018, Algorithm 2): each feature's Shapley share of one row's log-odds, where a feature left
//! out of a coalition follows both branches of its splits weighted by the training cover. They
//! add up to the row's log-odds minus the ensemble's expected log-odds, and equal the `shap`
//! package's `TreeExplainer(feature_perturbation = "tree_path_dependent")` (fixture test).
//!
//! The walk keeps, for the path from the root, each distinct feature's fraction of cover that
//! flows down the path without it (`zero`), whether the row itself follows it (`one`), and the
//! weights of the coalition sizes; a feature met again deeper is unwound and extended anew.

use crate::gbdt::{Gbdt, Node, Tree};

/// One distinct feature on the current path.
#[derive(Debug, Clone, Copy, Default)]
struct PathElement {
    /// The feature, or `None` for the root's placeholder.
    feature: Option<usize>,
    zero: f64,
    one: f64,
    weight: f64,
}

impl Gbdt {
    /// Whether every node records its cover (models saved before covers were kept do not).
    pub fn has_cover(&self) -> bool {
        self.trees
            .iter()
            .all(|t| (0..t.nodes.len()).all(|n| t.cover(n) > 0.0))
    }

    /// Each feature's SHAP value for one row, on the log-odds scale. With
    /// [`Gbdt::expected_value`] they sum to the row's log-odds. Needs [`Gbdt::has_cover`].
    pub fn shap_values(&self, row: &[f64]) -> Vec<f64> {
        let mut phi = vec![0.0; row.len()];
        for t in &self.trees {
            add_tree(t, row, &mut phi);
        }
        phi
    }

    /// The cover-weighted mean log-odds over the training rows: the base of the SHAP values.
    pub fn expected_value(&self) -> f64 {
        self.base_score + self.trees.iter().map(Tree::expected_value).sum::<f64>()
    }
}

/// Adds one tree's SHAP values for `row` to `phi`.
pub(crate) fn add_tree(t: &Tree, row: &[f64], phi: &mut [f64]) {
    let size = (t.depth() + 2) * (t.depth() + 3) / 2;
    let mut walk = Walk {
        tree: t,
        row,
        phi,
        paths: vec![PathElement::default(); size],
    };
    walk.recurse(0, 0, 0, (1.0, 1.0, None));
}

impl Tree {
    /// Splits on the longest path from the root.
    pub(crate) fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(0usize, 0usize)];
        while let Some((n, d)) = stack.pop() {
            deepest = deepest.max(d);
            if let Node::Split { left, right, .. } = self.nodes[n] {
                stack.extend([(left, d + 1), (right, d + 1)]);
            }
        }
        deepest
    }

    /// The cover-weighted mean of the leaves.
    fn expected_value(&self) -> f64 {
        let root = self.cover(0);
        self.nodes
            .iter()
            .filter_map(|n| match n {
                Node::Leaf { value, cover } => Some(value * cover / root),
                Node::Split { .. } => None,
            })
            .sum()
    }
}

/// One tree's walk for one row. `paths` holds each level's copy of the path, one after another
/// (the level below starts right after the level above's elements).
struct Walk<'a> {
    tree: &'a Tree,
    row: &'a [f64],
    phi: &'a mut [f64],
    paths: Vec<PathElement>,
}

impl Walk<'_> {
    /// Visits `node`, whose path (of `depth` elements before extending) is a copy of the one at
    /// `parent`, extended by `(zero, one, feature)`.
    fn recurse(
        &mut self,
        node: usize,
        mut depth: usize,
        parent: usize,
        (zero, one, feature): (f64, f64, Option<usize>),
    ) {
        let start = parent + depth + 1;
        self.paths.copy_within(parent..parent + depth + 1, start);
        let path = &mut self.paths[start..start + depth + 1];
        extend(path, depth, zero, one, feature);
        let (f, threshold, left, right) = match self.tree.nodes[node] {
            Node::Leaf { value, .. } => {
                for i in 1..=depth {
                    let el = path[i];
                    let w = unwound_sum(path, depth, i);
                    let f = el.feature.expect("only the root has no feature");
                    self.phi[f] += w * (el.one - el.zero) * value;
                }
                return;
            }
            Node::Split {
                feature,
                threshold,
                left,
                right,
                ..
            } => (feature, threshold, left, right),
        };
        let v = self.row[f];
        let (hot, cold) = if v.is_nan() || v <= threshold {
            (left, right)
        } else {
            (right, left)
        };
        let cover = self.tree.cover(node);
        let (hot_zero, cold_zero) = (self.tree.cover(hot) / cover, self.tree.cover(cold) / cover);
        let (mut in_zero, mut in_one) = (1.0, 1.0);
        if let Some(k) = path.iter().position(|e| e.feature == Some(f)) {
            (in_zero, in_one) = (path[k].zero, path[k].one);
            unwind(path, depth, k);
            depth -= 1;
        }
        self.recurse(hot, depth + 1, start, (hot_zero * in_zero, in_one, Some(f)));
        self.recurse(cold, depth + 1, start, (cold_zero * in_zero, 0.0, Some(f)));
    }
}

/// Adds element `l` to the path and updates the coalition-size weights.
fn extend(path: &mut [PathElement], l: usize, zero: f64, one: f64, feature: Option<usize>) {
    path[l] = PathElement {
        feature,
        zero,
        one,
        weight: if l == 0 { 1.0 } else { 0.0 },
    };
    let n = (l + 1) as f64;
    for i in (0..l).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / n;
        path[i].weight = zero * path[i].weight * (l - i) as f64 / n;
    }
}

/// Removes element `k` from a path of `l + 1` elements, undoing its extension.
fn unwind(path: &mut [PathElement], l: usize, k: usize) {
    let (one, zero) = (path[k].one, path[k].zero);
    let n = (l + 1) as f64;
    let mut next = path[l].weight;
    for i in (0..l).rev() {
        if one != 0.0 {
            let tmp = path[i].weight;
            path[i].weight = next * n / ((i + 1) as f64 * one);
            next = tmp - path[i].weight * zero * (l - i) as f64 / n;
        } else {
            path[i].weight = path[i].weight * n / (zero * (l - i) as f64);
        }
    }
    for i in k..l {
        let w = path[i].weight;
        path[i] = PathElement {
            weight: w,
            ..path[i + 1]
        };
    }
}

/// The total weight the path would have with element `k` unwound (without changing it).
fn unwound_sum(path: &[PathElement], l: usize, k: usize) -> f64 {
    let (one, zero) = (path[k].one, path[k].zero);
    let n = (l + 1) as f64;
    let mut next = path[l].weight;
    let mut total = 0.0;
    for i in (0..l).rev() {
        if one != 0.0 {
            let tmp = next * n / ((i + 1) as f64 * one);
            total += tmp;
            next = path[i].weight - tmp * zero * (l - i) as f64 / n;
        } else {
            total += path[i].weight / zero / ((l - i) as f64 / n);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gbdt::GbdtParams;
    use crate::{Matrix, Scorer};

    /// `fixtures/tree_shap.json`, made by `scripts/reference/tree_shap.py`.
    #[test]
    fn matches_the_shap_package() {
        let f: serde_json::Value =
            serde_json::from_str(include_str!("../fixtures/tree_shap.json")).unwrap();
        let model: Gbdt = serde_json::from_value(f["model"].clone()).unwrap();
        assert!(model.has_cover());
        let ev = f["expected_value"].as_f64().unwrap();
        assert!((model.expected_value() - ev).abs() < 1e-9, "{ev}");
        let floats = |v: &serde_json::Value| -> Vec<f64> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap_or(f64::NAN))
                .collect()
        };
        let rows = f["rows"].as_array().unwrap();
        for (r, want) in rows.iter().zip(f["shap"].as_array().unwrap()) {
            let (row, want) = (floats(r), floats(want));
            let got = model.shap_values(&row);
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() < 1e-9,
                    "row {row:?}: {got:?} vs shap's {want:?}"
                );
            }
        }
    }

    #[test]
    fn values_add_up_to_the_log_odds_of_a_fitted_model() {
        let rows: Vec<Vec<f64>> = (0..400)
            .map(|i| {
                let a = (i % 20) as f64;
                let b = ((i * 7) % 13) as f64;
                let c = if i % 9 == 0 { f64::NAN } else { (i % 5) as f64 };
                vec![a, b, c]
            })
            .collect();
        let y: Vec<bool> = rows
            .iter()
            .map(|r| r[0] + r[1] > 16.0 || r[2] == 4.0)
            .collect();
        let x = Matrix::from_rows(&rows).unwrap();
        let params = GbdtParams {
            max_trees: 20,
            min_samples_leaf: 5,
            ..Default::default()
        };
        let m = params.fit(&x, &y, None, None).unwrap();
        assert!(m.has_cover());
        for row in rows.iter().step_by(37) {
            let total = m.expected_value() + m.shap_values(row).iter().sum::<f64>();
            assert!((total - m.decision(row)).abs() < 1e-9, "{row:?}");
        }
    }
}
