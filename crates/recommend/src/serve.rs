//! A list for every user: the enabled algorithms fitted together over one [`History`], their
//! blend with the business rules, and the fallback cascade.
//!
//! Users with history get the blend of the enabled algorithms. When the blend runs short, and
//! for users without history (cold start), the popularity of the user's lifecycle stage fills
//! the list, then global popularity; each pick's `reason` says which. The rules run again over
//! the whole filled list, so the category limit counts the blend's picks too.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::als::{Als, AlsParams};
use crate::blend::{Rules, apply_rules};
use crate::candidates::{self, Ranking, Scorer};
use crate::content::Content;
use crate::interactions::{Event, InteractionsBuilder};
use crate::item_knn::{ItemKnn, ItemKnnParams};
use crate::popularity::Popularity;
use crate::shortlist::{self, Part};
use crate::{Csr, Interactions, Result};

#[cfg(test)]
mod reference;

/// An algorithm of the blend. The order (alphabetical) is the order the blend adds them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    Als,
    BuyAgain,
    Content,
    ItemItem,
    Popularity,
}

impl Algorithm {
    /// Every algorithm.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Als,
        Algorithm::BuyAgain,
        Algorithm::Content,
        Algorithm::ItemItem,
        Algorithm::Popularity,
    ];

    /// The name in specs and in the `algorithm` column.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Als => "als",
            Algorithm::BuyAgain => "buy_again",
            Algorithm::Content => "content",
            Algorithm::ItemItem => "item_item",
            Algorithm::Popularity => "popularity",
        }
    }

    /// The algorithm of a name.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The phrase a CRM shows next to an item this algorithm picked.
    pub fn reason(self) -> &'static str {
        match self {
            Algorithm::ItemItem => "similar to items you engaged with",
            Algorithm::Als => "liked by people with tastes like yours",
            Algorithm::BuyAgain => "you bought it before",
            Algorithm::Content => "matches the categories you like",
            Algorithm::Popularity => "popular right now",
        }
    }
}

/// One user's interactions and purchases, with the decayed purchase counts on the same indices.
pub struct History {
    pub inter: Interactions,
    pub bought: Csr,
}

/// A (user, item) row of interactions: weight and decayed purchases.
#[derive(Debug, Clone, PartialEq)]
pub struct InteractionRow {
    pub user: String,
    pub item: String,
    pub weight: f32,
    pub purchases: f32,
}

/// An [`InteractionRow`] borrowing its ids (from the batches a query returned, say).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowRef<'a> {
    pub user: &'a str,
    pub item: &'a str,
    pub weight: f32,
    pub purchases: f32,
}

impl InteractionRow {
    pub fn borrowed(&self) -> RowRef<'_> {
        RowRef {
            user: &self.user,
            item: &self.item,
            weight: self.weight,
            purchases: self.purchases,
        }
    }
}

impl History {
    /// Builds the matrices from rows already decayed and summed per (user, item).
    pub fn new(rows: &[InteractionRow]) -> History {
        History::from_rows(rows.iter().map(InteractionRow::borrowed))
    }

    /// [`History::new`] from borrowed rows.
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = RowRef<'a>>) -> History {
        let mut purchased = vec![];
        let events = rows.into_iter().map(|r| {
            if r.purchases > 0.0 {
                purchased.push(r);
            }
            Event {
                user: r.user,
                item: r.item,
                weight: r.weight,
                age_days: 0.0,
            }
        });
        let inter = InteractionsBuilder::new(None).extend(events).build();
        let bought = purchased
            .iter()
            .map(|r| {
                let u = inter.user_index(r.user).expect("indexed");
                (u, inter.item_index(r.item).expect("indexed"), r.purchases)
            })
            .collect();
        let bought = Csr::from_triples(inter.users(), inter.items(), bought);
        History { inter, bought }
    }

    /// Item index → category, for the items that have one in `categories` (by item id).
    pub fn category_index(&self, categories: &HashMap<String, String>) -> HashMap<u32, String> {
        (0..self.inter.items() as u32)
            .filter_map(|i| {
                categories
                    .get(self.inter.item_id(i))
                    .map(|c| (i, c.clone()))
            })
            .collect()
    }
}

/// Serving settings: the blend's weights, each algorithm's settings and the business rules.
#[derive(Debug, Clone)]
pub struct ServeParams {
    /// Weight per enabled algorithm (absent: off).
    pub weights: BTreeMap<Algorithm, f32>,
    pub item_knn: ItemKnnParams,
    pub als: AlsParams,
    /// Items per list.
    pub n: usize,
    pub exclude_purchased: bool,
    /// Item ids that alone may be recommended (empty: any).
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub per_category: Option<usize>,
}

/// One entry of a user's list.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub item: u32,
    pub score: f32,
    pub algorithm: Algorithm,
    pub reason: String,
}

/// The algorithms fitted over one [`History`].
pub struct Recommender<'a> {
    history: &'a History,
    params: &'a ServeParams,
    /// The weights the lists blend with.
    pub weights: BTreeMap<Algorithm, f32>,
    pub knn: Option<ItemKnn>,
    als: Option<Als>,
    content: Option<Content>,
    popular: Ranking,
    popular_by_stage: BTreeMap<String, Ranking>,
    /// The allow and deny lists as item indices (the same for every user).
    allow: HashSet<u32>,
    deny: HashSet<u32>,
    /// Per user index: the stage (for per-stage popularity).
    stage_of: Vec<Option<String>>,
}

impl ServeParams {
    /// Fits the enabled algorithms. `stages` maps user ids to stages; `attributes` item ids to
    /// their attributes (for content scores).
    pub fn fit<'a>(
        &'a self,
        history: &'a History,
        stages: &HashMap<String, String>,
        attributes: &HashMap<String, Vec<String>>,
    ) -> Result<Recommender<'a>> {
        let on = |a: Algorithm| self.weights.contains_key(&a);
        let m = &history.inter.matrix;
        // Side by side: each fit is parallel, but has stretches on one core (transposes, sums).
        let (knn, als) = rayon::join(
            || on(Algorithm::ItemItem).then(|| self.item_knn.fit(m)),
            || on(Algorithm::Als).then(|| self.als.fit(m)),
        );
        let (knn, als) = (knn.transpose()?, als.transpose()?);
        let content = on(Algorithm::Content).then(|| {
            let items = 0..history.inter.items() as u32;
            let attrs: Vec<Vec<String>> = items
                .map(|i| {
                    attributes
                        .get(history.inter.item_id(i))
                        .cloned()
                        .unwrap_or_default()
                })
                .collect();
            Content::new(&attrs)
        });
        let stage_of: Vec<Option<String>> = (0..history.inter.users() as u32)
            .map(|u| stages.get(history.inter.user_id(u)).cloned())
            .collect();
        Ok(Recommender {
            history,
            params: self,
            weights: self.weights.clone(),
            knn,
            als,
            content,
            popular: Ranking::new(Popularity::global(m).users_per_item),
            popular_by_stage: Popularity::by_segment(m, &stage_of)
                .into_iter()
                .map(|(s, p)| (s, Ranking::new(p.users_per_item)))
                .collect(),
            stage_of,
            allow: self.allow_index(history),
            deny: index(history, &self.deny),
        })
    }

    /// The allow list as item indices: nothing at all when none of its items has history.
    fn allow_index(&self, history: &History) -> HashSet<u32> {
        let mut allow = index(history, &self.allow);
        if !self.allow.is_empty() && allow.is_empty() {
            // Allowed items nobody interacted with: nothing can be recommended.
            allow.insert(u32::MAX);
        }
        allow
    }
}

/// The indices of the item ids `ids` that have history.
fn index(history: &History, ids: &[String]) -> HashSet<u32> {
    ids.iter()
        .filter_map(|i| history.inter.item_index(i))
        .collect()
}

impl Recommender<'_> {
    /// The history the algorithms were fitted on.
    pub fn history(&self) -> &History {
        self.history
    }

    /// The rules for one user (by index in the history, if they have history).
    pub(crate) fn rules(&self, user: Option<u32>) -> Rules {
        let exclude = match (self.params.exclude_purchased, user) {
            (true, Some(u)) => self
                .history
                .bought
                .row(u as usize)
                .0
                .iter()
                .copied()
                .collect(),
            _ => HashSet::new(),
        };
        Rules {
            exclude,
            allow: self.allow.clone(),
            deny: self.deny.clone(),
            per_category: self.params.per_category,
            n: self.params.n,
        }
    }

    /// The list of the user `id` (of lifecycle stage `stage`): the blend for a user with
    /// history, then popularity to fill it. `category` is [`History::category_index`].
    pub fn list(
        &self,
        id: &str,
        stage: Option<&str>,
        category: &HashMap<u32, String>,
    ) -> Vec<Pick> {
        self.list_with(id, stage, category, None, &self.weights)
    }

    /// The lists of many `(user id, stage)`, in parallel: blocks of users, each scored by ALS
    /// as one matrix product. The same lists as [`Recommender::list`] one by one.
    pub fn lists(
        &self,
        users: &[(&str, Option<&str>)],
        category: &HashMap<u32, String>,
    ) -> Vec<Vec<Pick>> {
        let mut by_blend = self.lists_for(&[&self.weights], users, category);
        by_blend.pop().expect("one blend")
    }

    /// [`Recommender::lists`] under each of `blends` (weights per algorithm) in turn, from one
    /// ALS product per block of users: `[blend][user]`.
    fn lists_for(
        &self,
        blends: &[&BTreeMap<Algorithm, f32>],
        users: &[(&str, Option<&str>)],
        category: &HashMap<u32, String>,
    ) -> Vec<Vec<Vec<Pick>>> {
        use rayon::prelude::*;
        const BLOCK: usize = 128;
        let als = self
            .als
            .as_ref()
            .filter(|_| blends.iter().any(|w| w.contains_key(&Algorithm::Als)));
        let blocks: Vec<Vec<Vec<Vec<Pick>>>> = users
            .par_chunks(BLOCK)
            .map_init(Vec::new, |buffer, block| {
                let index: Vec<Option<u32>> = block
                    .iter()
                    .map(|(id, _)| self.history.inter.user_index(id))
                    .collect();
                let known: Vec<u32> = index.iter().flatten().copied().collect();
                let scores = als.map_or(&[][..], |a| a.scores_into(&known, buffer));
                let items = self.history.inter.items().max(1);
                blends
                    .iter()
                    .map(|weights| {
                        let mut rows = scores.chunks(items);
                        block
                            .iter()
                            .zip(&index)
                            .map(|((id, stage), u)| {
                                let row = u.and(als).and_then(|_| rows.next());
                                self.list_with(id, *stage, category, row, weights)
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let mut out: Vec<Vec<Vec<Pick>>> = blends.iter().map(|_| vec![]).collect();
        for block in blocks {
            for (lists, of_block) in out.iter_mut().zip(block) {
                lists.extend(of_block);
            }
        }
        out
    }

    /// [`Recommender::list`] under `weights`, with the user's ALS scores when a block computed
    /// them.
    fn list_with(
        &self,
        id: &str,
        stage: Option<&str>,
        category: &HashMap<u32, String>,
        als: Option<&[f32]>,
        weights: &BTreeMap<Algorithm, f32>,
    ) -> Vec<Pick> {
        let user = self.history.inter.user_index(id);
        let rules = self.rules(user);
        let mut picks = match user {
            Some(u) => self.blended(u, stage, &rules, category, als, weights),
            None => vec![],
        };
        if picks.len() < rules.n {
            picks = self.fill(picks, stage, &rules, category);
        }
        picks
    }

    fn blended(
        &self,
        u: u32,
        stage: Option<&str>,
        rules: &Rules,
        category: &HashMap<u32, String>,
        als: Option<&[f32]>,
        weights: &BTreeMap<Algorithm, f32>,
    ) -> Vec<Pick> {
        // The algorithms in the weights' order, but those the fit left out (an evaluation may
        // weigh one alone that the blend does not use).
        let (algorithm_of, parts): (Vec<Algorithm>, Vec<Part>) = weights
            .iter()
            .filter_map(|(a, weight)| {
                let scorer = self.scorer(*a, u, stage, als)?;
                Some((
                    *a,
                    Part {
                        weight: *weight,
                        scorer,
                    },
                ))
            })
            .unzip();
        let items = self.history.inter.items();
        shortlist::blend(&parts, rules, category, items)
            .into_iter()
            .map(|b| {
                let algorithm = algorithm_of[b.part];
                Pick {
                    item: b.item,
                    score: b.score,
                    algorithm,
                    reason: algorithm.reason().to_string(),
                }
            })
            .collect()
    }

    /// One algorithm's scores for user `u`, in the form its candidates come cheapest.
    fn scorer<'s>(
        &'s self,
        a: Algorithm,
        u: u32,
        stage: Option<&str>,
        als: Option<&'s [f32]>,
    ) -> Option<Scorer<'s>> {
        let (items, weights) = self.history.inter.matrix.row(u as usize);
        Some(match a {
            Algorithm::ItemItem => Scorer::Sparse(self.knn.as_ref()?.sparse_scores(items, weights)),
            Algorithm::Als => match als {
                Some(row) => Scorer::Dense(row.into()),
                None => Scorer::Dense(self.als.as_ref()?.scores(u).into()),
            },
            Algorithm::Content => {
                Scorer::Sparse(self.content.as_ref()?.sparse_scores(items, weights))
            }
            Algorithm::BuyAgain => Scorer::Sparse(candidates::bought(&self.history.bought, u)),
            Algorithm::Popularity => Scorer::Ranked(self.ranking(u, stage)),
        })
    }

    /// Fills `picks` from the stage's popularity, then everyone's, under the rules (counting
    /// the blend's picks in the category limit), reading the rankings only as far as needed.
    fn fill(
        &self,
        picks: Vec<Pick>,
        stage: Option<&str>,
        rules: &Rules,
        category: &HashMap<u32, String>,
    ) -> Vec<Pick> {
        let by_stage = stage.and_then(|s| self.popular_by_stage.get(s).map(|r| (r, s)));
        let stage_why = by_stage.map(|(_, s)| format!("fallback: popular with {s} users"));
        let mut sources: Vec<(&Ranking, &str)> = vec![];
        if let (Some((r, _)), Some(why)) = (by_stage, stage_why.as_deref()) {
            sources.push((r, why));
        }
        sources.push((&self.popular, "fallback: popular overall"));
        let mut seen: HashSet<u32> = picks.iter().map(|p| p.item).collect();
        let fills = sources
            .iter()
            .flat_map(|(r, why)| r.ranked().map(move |(item, score)| (item, score, *why)))
            .filter(|(item, ..)| seen.insert(*item));
        let listed = picks.into_iter().map(Listed::Pick);
        let all = listed.chain(fills.map(|(item, score, why)| Listed::Fill(item, score, why)));
        apply_rules(all, Listed::item, rules, category)
            .into_iter()
            .map(Listed::into_pick)
            .collect()
    }

    /// The popularity ranking of user `u`'s stage (`stage`, else the one they were fitted
    /// with), else everyone's.
    fn ranking(&self, u: u32, stage: Option<&str>) -> &Ranking {
        let stage = stage.or(self.stage_of[u as usize].as_deref());
        stage
            .and_then(|s| self.popular_by_stage.get(s))
            .unwrap_or(&self.popular)
    }
}

/// An entry of a filled list: a pick of the blend, or a popular item with its reason.
enum Listed<'a> {
    Pick(Pick),
    Fill(u32, f32, &'a str),
}

impl Listed<'_> {
    fn item(&self) -> u32 {
        match self {
            Listed::Pick(p) => p.item,
            Listed::Fill(item, ..) => *item,
        }
    }

    fn into_pick(self) -> Pick {
        match self {
            Listed::Pick(p) => p,
            Listed::Fill(item, score, why) => Pick {
                item,
                score,
                algorithm: Algorithm::Popularity,
                reason: why.to_string(),
            },
        }
    }
}

/// The offline evaluation of one fit: which lists were judged and how they did.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Users with history in the fit and relevant items in the test period.
    pub test_users: usize,
    /// Each enabled algorithm alone, popularity (the baseline, even when off) and the blend.
    pub runs: Vec<(String, crate::metrics::RankingMetrics)>,
}

impl Recommender<'_> {
    /// Ranks the test users' lists with each algorithm alone, popularity and the blend, at
    /// `k = n` with the same rules as served lists, and judges them against `relevant` (the
    /// items each user touched in the test period, by this fit's user and item indices; an
    /// item outside the catalogue by a number past it: [`crate::split::Split::relevant_in_train`]).
    /// The users with history in the fit are judged; the lists of every run come from one ALS
    /// product per block of users.
    pub fn evaluate(
        &self,
        stages: &HashMap<String, String>,
        relevant: &HashMap<u32, HashSet<u32>>,
        category: &HashMap<u32, String>,
    ) -> Evaluation {
        let inter = &self.history.inter;
        let mut test_users: Vec<u32> = relevant
            .keys()
            .copied()
            .filter(|u| (*u as usize) < inter.users())
            .collect();
        test_users.sort_unstable();
        let alone = |a: Algorithm| (a.name().to_string(), BTreeMap::from([(a, 1.0)]));
        let mut runs: Vec<(String, BTreeMap<Algorithm, f32>)> =
            self.weights.keys().map(|a| alone(*a)).collect();
        if !self.weights.contains_key(&Algorithm::Popularity) {
            runs.push(alone(Algorithm::Popularity));
        }
        runs.push(("blend".into(), self.weights.clone()));
        let asked: Vec<(&str, Option<&str>)> = test_users
            .iter()
            .map(|u| {
                let id = inter.user_id(*u);
                (id, stages.get(id).map(String::as_str))
            })
            .collect();
        let blends: Vec<&BTreeMap<Algorithm, f32>> = runs.iter().map(|(_, w)| w).collect();
        let lists = self.lists_for(&blends, &asked, category);
        let catalogue = Some(inter.items());
        let out = runs
            .iter()
            .zip(lists)
            .map(|((name, _), lists)| {
                let recommended: HashMap<u32, Vec<u32>> = test_users
                    .iter()
                    .zip(lists)
                    .map(|(u, picks)| (*u, picks.iter().map(|p| p.item).collect()))
                    .collect();
                let metrics =
                    crate::metrics::evaluate(&recommended, relevant, self.params.n, catalogue);
                (name.clone(), metrics)
            })
            .collect();
        Evaluation {
            test_users: test_users.len(),
            runs: out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(user: &str, item: &str, weight: f32, purchases: f32) -> InteractionRow {
        InteractionRow {
            user: user.into(),
            item: item.into(),
            weight,
            purchases,
        }
    }

    /// ann bought a and b; bob engaged with c; cara with b and c. Categories: a, b = x; c, d = y.
    fn history() -> History {
        History::new(&[
            row("ann", "a", 3.0, 1.0),
            row("ann", "b", 1.0, 1.0),
            row("bob", "c", 2.0, 0.0),
            row("cara", "b", 1.0, 0.0),
            row("cara", "c", 1.0, 0.0),
            row("dan", "d", 1.0, 0.0),
        ])
    }

    fn params(weights: &[(Algorithm, f32)], n: usize) -> ServeParams {
        ServeParams {
            weights: weights.iter().copied().collect(),
            item_knn: ItemKnnParams::default(),
            als: AlsParams::default(),
            n,
            exclude_purchased: false,
            allow: vec![],
            deny: vec![],
            per_category: None,
        }
    }

    fn stages() -> HashMap<String, String> {
        [
            ("ann", "active"),
            ("bob", "active"),
            ("cara", "new"),
            ("dan", "new"),
        ]
        .map(|(u, s)| (u.to_string(), s.to_string()))
        .into()
    }

    fn items(h: &History, picks: &[Pick]) -> Vec<String> {
        picks
            .iter()
            .map(|p| h.inter.item_id(p.item).to_string())
            .collect()
    }

    #[test]
    fn a_short_blend_is_filled_from_the_stage_then_everyone() {
        let h = history();
        let p = params(&[(Algorithm::BuyAgain, 1.0)], 4);
        let r = p.fit(&h, &stages(), &HashMap::new()).unwrap();
        let picks = r.list("ann", Some("active"), &HashMap::new());
        // Buy-again gives a (3 times the weight... of purchases: equal) and b; then the active
        // users' popular items not yet listed (c: bob), then everyone's (d: dan).
        assert_eq!(items(&h, &picks), ["a", "b", "c", "d"]);
        let reasons: Vec<&str> = picks.iter().map(|p| p.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "you bought it before",
                "you bought it before",
                "fallback: popular with active users",
                "fallback: popular overall",
            ]
        );
        assert_eq!(picks[2].algorithm, Algorithm::Popularity);
        // A user nobody has seen (cold start) of a stage nobody is in: everyone's popularity
        // (b and c by two users each, the lower index first; then a and d by one).
        let cold = r.list("zoe", Some("vip"), &HashMap::new());
        assert_eq!(items(&h, &cold), ["b", "c", "a", "d"]);
        assert!(cold.iter().all(|p| p.reason == "fallback: popular overall"));
    }

    #[test]
    fn rules_hold_over_the_filled_list() {
        let h = history();
        let mut p = params(&[(Algorithm::BuyAgain, 1.0)], 3);
        p.exclude_purchased = true;
        p.deny = vec!["c".into()];
        let r = p.fit(&h, &stages(), &HashMap::new()).unwrap();
        // ann's purchases (a, b) and the denied c are never listed: only d is left.
        assert_eq!(
            items(&h, &r.list("ann", Some("active"), &HashMap::new())),
            ["d"]
        );
        let mut p = params(&[(Algorithm::Popularity, 1.0)], 3);
        p.per_category = Some(1);
        let r = p.fit(&h, &stages(), &HashMap::new()).unwrap();
        let cats: HashMap<String, String> = [("a", "x"), ("b", "x"), ("c", "y"), ("d", "y")]
            .map(|(i, c)| (i.into(), c.into()))
            .into();
        let category = h.category_index(&cats);
        // One per category, counting the blend's picks and the fallback's together.
        let listed = items(&h, &r.list("dan", Some("new"), &category));
        assert_eq!(listed.len(), 2, "{listed:?}");
        let of = |i: &String| cats[i].clone();
        assert_ne!(of(&listed[0]), of(&listed[1]));
        let mut p = params(&[(Algorithm::Popularity, 1.0)], 3);
        p.allow = vec!["nothing-anyone-touched".into()];
        let r = p.fit(&h, &stages(), &HashMap::new()).unwrap();
        assert!(r.list("ann", None, &HashMap::new()).is_empty());
    }

    #[test]
    fn evaluation_runs_each_algorithm_popularity_and_the_blend() {
        let h = history();
        let p = params(&[(Algorithm::BuyAgain, 1.0), (Algorithm::ItemItem, 0.5)], 2);
        let r = p.fit(&h, &stages(), &HashMap::new()).unwrap();
        // ann touched a; zoe (no history before the split: no index in the fit) touched b.
        let ann = h.inter.user_index("ann").unwrap();
        let zoe = h.inter.users() as u32;
        let relevant: HashMap<u32, HashSet<u32>> = [
            (ann, HashSet::from([h.inter.item_index("a").unwrap()])),
            (zoe, HashSet::from([h.inter.item_index("b").unwrap()])),
        ]
        .into();
        let e = r.evaluate(&stages(), &relevant, &HashMap::new());
        assert_eq!(e.test_users, 1, "zoe has no history before the split");
        let names: Vec<&str> = e.runs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["buy_again", "item_item", "popularity", "blend"]);
        // Buy-again lists ann's own a first: a hit at rank 1.
        assert_eq!(e.runs[0].1.precision, 0.5);
        assert_eq!(e.runs[0].1.ndcg, 1.0);
    }
}
