//! The listing as it was before the short lists: every algorithm scores every item, the blend
//! ranks the whole catalogue. Kept for the tests, which compare the two paths' lists.

use std::collections::{HashMap, HashSet};

use super::{Algorithm, Pick, Recommender};
use crate::blend::{Rules, Source, apply_rules, blend};
use crate::popularity::Popularity;

impl Recommender<'_> {
    /// [`Recommender::list`] over the whole catalogue.
    pub(crate) fn list_dense(
        &self,
        id: &str,
        stage: Option<&str>,
        category: &HashMap<u32, String>,
    ) -> Vec<Pick> {
        let user = self.history.inter.user_index(id);
        let rules = self.rules(user);
        let mut picks = match user {
            Some(u) => self.blended_dense(u, stage, &rules, category),
            None => vec![],
        };
        if picks.len() < rules.n {
            picks = self.fill_dense(picks, stage, &rules, category);
        }
        picks
    }

    fn blended_dense(
        &self,
        u: u32,
        stage: Option<&str>,
        rules: &Rules,
        category: &HashMap<u32, String>,
    ) -> Vec<Pick> {
        let owned: Vec<(Algorithm, Vec<f32>)> = self
            .weights
            .keys()
            .filter_map(|a| self.scores_dense(*a, u, stage).map(|s| (*a, s)))
            .collect();
        let sources: Vec<Source> = owned
            .iter()
            .map(|(a, s)| Source {
                name: a.name(),
                weight: self.weights[a],
                scores: s,
            })
            .collect();
        apply_rules(blend(&sources), |c| c.item, rules, category)
            .into_iter()
            .map(|c| {
                let algorithm = Algorithm::from_name(&c.algorithm).expect("a source's name");
                Pick {
                    item: c.item,
                    score: c.score,
                    algorithm,
                    reason: algorithm.reason().to_string(),
                }
            })
            .collect()
    }

    /// One algorithm's scores of every item for user `u`.
    fn scores_dense(&self, a: Algorithm, u: u32, stage: Option<&str>) -> Option<Vec<f32>> {
        let m = &self.history.inter.matrix;
        let (items, weights) = m.row(u as usize);
        match a {
            Algorithm::ItemItem => self.knn.as_ref().map(|k| k.scores(items, weights)),
            Algorithm::Als => self.als.as_ref().map(|a| a.scores(u)),
            Algorithm::Content => self.content.as_ref().map(|c| c.scores(items, weights)),
            Algorithm::BuyAgain => {
                let mut s = vec![0f32; m.cols];
                let (bi, bw) = self.history.bought.row(u as usize);
                bi.iter().zip(bw).for_each(|(i, w)| s[*i as usize] = *w);
                Some(s)
            }
            Algorithm::Popularity => Some(self.popularity_dense(u, stage).clone()),
        }
    }

    /// Fills `picks` from the stage's popularity, then everyone's.
    fn fill_dense(
        &self,
        mut picks: Vec<Pick>,
        stage: Option<&str>,
        rules: &Rules,
        category: &HashMap<u32, String>,
    ) -> Vec<Pick> {
        let cols = self.history.inter.matrix.cols;
        let mut sources: Vec<(Popularity, String)> = vec![];
        if let Some((p, s)) = stage.and_then(|s| self.popular_by_stage.get(s).map(|p| (p, s))) {
            let users_per_item = p.scores.clone();
            let why = format!("fallback: popular with {s} users");
            sources.push((Popularity { users_per_item }, why));
        }
        let users_per_item = self.popular.scores.clone();
        sources.push((
            Popularity { users_per_item },
            "fallback: popular overall".into(),
        ));
        let mut seen: HashSet<u32> = picks.iter().map(|p| p.item).collect();
        for (pop, why) in &sources {
            let ranked = crate::top_n(&pop.users_per_item, cols, |i| {
                pop.users_per_item[i as usize] <= 0.0
            });
            for s in ranked {
                if seen.insert(s.item) {
                    picks.push(Pick {
                        item: s.item,
                        score: s.score,
                        algorithm: Algorithm::Popularity,
                        reason: why.clone(),
                    });
                }
            }
        }
        apply_rules(picks, |p| p.item, rules, category)
    }

    fn popularity_dense(&self, u: u32, stage: Option<&str>) -> &Vec<f32> {
        &self.ranking(u, stage).scores
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use crate::als::AlsParams;
    use crate::item_knn::{ItemKnnParams, Similarity};
    use crate::serve::{Algorithm, History, InteractionRow, ServeParams};

    /// 400 users over 300 items with a popularity skew (integer weights, so that scores tie
    /// often), purchases, three stages and item categories and attributes.
    fn fixture() -> (
        History,
        HashMap<String, String>,
        HashMap<String, Vec<String>>,
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut rows = vec![];
        for u in 0..400 {
            let touched = rng.gen_range(1..25);
            let mut items: Vec<u32> = (0..touched)
                .map(|_| (rng.gen_range(0f64..1.0).powi(3) * 300.0) as u32)
                .collect();
            items.sort_unstable();
            items.dedup();
            for i in items {
                let purchases = if rng.gen_bool(0.2) {
                    rng.gen_range(1..3) as f32
                } else {
                    0.0
                };
                rows.push(InteractionRow {
                    user: format!("u{u}"),
                    item: format!("i{i}"),
                    weight: rng.gen_range(1..4) as f32,
                    purchases,
                });
            }
        }
        let stages = (0..400)
            .map(|u| {
                (
                    format!("u{u}"),
                    ["new", "active", "at_risk"][u % 3].to_string(),
                )
            })
            .collect();
        let attributes = (0..300)
            .map(|i| {
                (
                    format!("i{i}"),
                    vec![format!("category=c{}", i % 7), format!("brand=b{}", i % 5)],
                )
            })
            .collect();
        (History::new(&rows), stages, attributes)
    }

    fn params(weights: &[(Algorithm, f32)]) -> ServeParams {
        ServeParams {
            weights: weights.iter().copied().collect::<BTreeMap<_, _>>(),
            item_knn: ItemKnnParams {
                neighbours: 20,
                similarity: Similarity::Cosine,
            },
            als: AlsParams {
                factors: 8,
                iterations: 4,
                ..AlsParams::default()
            },
            n: 10,
            exclude_purchased: false,
            allow: vec![],
            deny: vec![],
            per_category: None,
        }
    }

    #[test]
    fn short_lists_are_the_whole_catalogue_lists() {
        let (history, stages, attributes) = fixture();
        let categories: HashMap<String, String> = attributes
            .iter()
            .map(|(i, a)| (i.clone(), a[0].clone()))
            .collect();
        let category = history.category_index(&categories);
        let all = [
            (Algorithm::Als, 1.0),
            (Algorithm::BuyAgain, 0.5),
            (Algorithm::Content, 0.3),
            (Algorithm::ItemItem, 1.0),
            (Algorithm::Popularity, 0.1),
        ];
        let mut cases: Vec<ServeParams> = all.iter().map(|a| params(&[*a])).collect();
        cases.push(params(&all));
        let mut ruled = params(&all);
        ruled.exclude_purchased = true;
        ruled.deny = (0..40).map(|i| format!("i{i}")).collect();
        ruled.per_category = Some(2);
        cases.push(ruled);
        let mut allowed = params(&all);
        allowed.allow = (100..300).map(|i| format!("i{i}")).collect();
        allowed.n = 30;
        cases.push(allowed);
        let users: Vec<String> = (0..410).map(|u| format!("u{u}")).collect();
        for (c, p) in cases.iter().enumerate() {
            let r = p.fit(&history, &stages, &attributes).unwrap();
            for stage in [None, Some("vip")] {
                let asked: Vec<(&str, Option<&str>)> = users
                    .iter()
                    .map(|id| (id.as_str(), stage.or(stages.get(id).map(String::as_str))))
                    .collect();
                let blocks = r.lists(&asked, &category);
                for ((id, stage), listed) in asked.iter().zip(&blocks) {
                    let one = r.list(id, *stage, &category);
                    let dense = r.list_dense(id, *stage, &category);
                    assert_eq!(&one, &dense, "case {c}, {id}, stage {stage:?}");
                    assert_eq!(listed, &dense, "case {c}, {id} in a block, stage {stage:?}");
                }
            }
        }
    }
}
