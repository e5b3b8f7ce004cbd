//! Readable names for clusters, from how far each centroid sits from the average user.
//!
//! A centroid in standardised units says, per feature, how many standard deviations the
//! cluster's typical member is above (+) or below (−) the average. The name uses the (at most)
//! two features with the largest `|z| >= 0.5`, each turned into a word by the rules of
//! [`describe`]; a cluster with no such feature is "typical users".

/// The word for a feature that is high (`z > 0`) or low in a cluster. Matched on the column
/// name, first rule wins: recency, revenue/order value/monetary, purchases, tenure, trend,
/// events/active days, other per-type counts (`likes_30d` -> "many likes"/"few likes"); any other
/// column is "high <name>"/"low <name>".
pub fn describe(feature: &str, z: f64) -> String {
    let high = z > 0.0;
    let pick = |h: &str, l: &str| if high { h.to_string() } else { l.to_string() };
    // `likes_30d` -> `likes`: a per-type count over a window.
    let windowed = feature
        .strip_suffix('d')
        .and_then(|f| f.rsplit_once('_'))
        .filter(|(_, days)| !days.is_empty() && days.bytes().all(|b| b.is_ascii_digit()))
        .map(|(base, _)| base);
    if feature.contains("recency") {
        pick("lapsing", "recently active")
    } else if feature.contains("revenue")
        || feature.contains("order_value")
        || feature.contains("monetary")
    {
        pick("high-value", "low-value")
    } else if feature.contains("purchase") {
        pick("frequent buyers", "rare buyers")
    } else if feature.contains("tenure") {
        pick("long-standing", "new")
    } else if feature.contains("trend") {
        pick("growing", "declining")
    } else if feature.starts_with("events") || feature.starts_with("active_days") {
        pick("highly engaged", "quiet")
    } else if let Some(base) = windowed {
        pick(&format!("many {base}"), &format!("few {base}"))
    } else {
        pick(&format!("high {feature}"), &format!("low {feature}"))
    }
}

/// Names for the clusters whose standardised centroids are `centroids` (one row per cluster),
/// made unique by appending the cluster number where two would be the same.
pub fn cluster_names(features: &[String], centroids: &crate::Matrix) -> Vec<String> {
    let mut names: Vec<String> = (0..centroids.rows)
        .map(|c| {
            let mut strongest: Vec<(usize, f64)> = centroids
                .row(c)
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, z)| z.abs() >= 0.5)
                .collect();
            strongest.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
            // Two features may give the same word (events and active days): keep distinct words.
            let mut words: Vec<String> = vec![];
            for (j, z) in &strongest {
                let w = describe(&features[*j], *z);
                if words.len() < 2 && !words.contains(&w) {
                    words.push(w);
                }
            }
            if words.is_empty() {
                "typical users".to_string()
            } else {
                words.join(", ")
            }
        })
        .collect();
    for c in 0..names.len() {
        if names.iter().filter(|n| **n == names[c]).count() > 1 {
            let dup = names[c].clone();
            for (i, n) in names.iter_mut().enumerate() {
                if *n == dup {
                    *n = format!("{dup} ({i})");
                }
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Matrix;

    #[test]
    fn names_from_the_strongest_features() {
        let f: Vec<String> = [
            "recency_days",
            "revenue_total",
            "likes_30d",
            "purchases_total",
        ]
        .map(String::from)
        .to_vec();
        let c = Matrix::from_rows(&[
            vec![-1.2, 2.0, 0.1, 0.3],
            vec![1.5, -0.2, -0.9, 0.0],
            vec![0.1, 0.2, 0.3, -0.4],
            vec![0.0, 0.0, 0.0, 0.0],
        ])
        .unwrap();
        assert_eq!(
            cluster_names(&f, &c),
            vec![
                "high-value, recently active",
                "lapsing, few likes",
                "typical users (2)",
                "typical users (3)"
            ]
        );
    }
}
