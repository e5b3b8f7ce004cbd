//! Users' tastes: each user favours two item categories, drawn with their latent segment's
//! preferences, and takes most items of their views, likes and purchases from those ([`SHARE`];
//! the rest from the global popularity curve), so that a personalised recommender has something
//! to find that popularity alone does not. Drawn from a random stream of their own: event times,
//! kinds and churn are those the same seed gives without tastes; only which items (and so the
//! purchase amounts) change.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::{CATEGORIES, Catalog, GeneratorParams, rng_for};

/// The share of a user's interactions taken from their favourite categories.
pub(crate) const SHARE: f64 = 0.75;

/// Offsets the seed so that these draws never share a stream with a user's events.
const SALT: u64 = 0x007a_57e5;

/// Each segment's preference for each category (`CATEGORIES` order: fashion, beauty, home,
/// electronics, books, sports), relative weights.
const PREFERENCES: [[f64; CATEGORIES.len()]; 4] = [
    [3.0, 3.0, 1.0, 0.5, 2.0, 1.0], // casual
    [2.0, 1.0, 1.0, 3.0, 2.0, 2.0], // browser
    [1.0, 1.0, 3.0, 2.0, 1.0, 3.0], // buyer
    [3.0, 2.0, 2.0, 3.0, 0.5, 1.0], // vip
];

/// The items of each category with their cumulative popularity (the global Zipf weights).
pub(crate) struct CategoryIndex {
    items: Vec<Vec<u32>>,
    cdf: Vec<Vec<f64>>,
}

impl CategoryIndex {
    pub(crate) fn of(cat: &Catalog) -> CategoryIndex {
        let mut items = vec![vec![]; CATEGORIES.len()];
        let mut cdf: Vec<Vec<f64>> = vec![vec![]; CATEGORIES.len()];
        for (i, c) in cat.category.iter().enumerate() {
            let weight = cat.cdf[i] - if i == 0 { 0.0 } else { cat.cdf[i - 1] };
            let last = cdf[*c].last().copied().unwrap_or(0.0);
            items[*c].push(i as u32);
            cdf[*c].push(last + weight);
        }
        CategoryIndex { items, cdf }
    }
}

/// One user's favourite categories and the stream their choices are drawn from.
pub(crate) struct Taste {
    favourites: [usize; 2],
    rng: ChaCha8Rng,
}

impl Taste {
    /// The taste of `user` of latent segment `segment`.
    pub(crate) fn draw(p: &GeneratorParams, user: u64, segment: usize) -> Taste {
        let mut rng = rng_for(p.seed.wrapping_add(SALT), user);
        let weights = PREFERENCES[segment];
        let first = weighted(&mut rng, &weights, None);
        let second = weighted(&mut rng, &weights, Some(first));
        Taste {
            favourites: [first, second],
            rng,
        }
    }

    /// The item of one interaction: by popularity within a favourite category (one with
    /// items), or `global`, the item the popularity curve gave.
    pub(crate) fn pick(&mut self, index: &CategoryIndex, global: u32) -> u32 {
        if self.rng.r#gen::<f64>() >= SHARE {
            return global;
        }
        let c = self.favourites[self.rng.gen_range(0..2)];
        let (items, cdf) = (&index.items[c], &index.cdf[c]);
        let Some(total) = cdf.last() else {
            return global;
        };
        let x = self.rng.r#gen::<f64>() * total;
        items[cdf.partition_point(|v| *v < x).min(items.len() - 1)]
    }
}

/// A category drawn by `weights`, never `except`.
fn weighted(rng: &mut ChaCha8Rng, weights: &[f64], except: Option<usize>) -> usize {
    let w = |i: usize| if Some(i) == except { 0.0 } else { weights[i] };
    let total: f64 = (0..weights.len()).map(w).sum();
    let mut x = rng.r#gen::<f64>() * total;
    for i in 0..weights.len() {
        if x < w(i) {
            return i;
        }
        x -= w(i);
    }
    (0..weights.len()).rfind(|i| w(*i) > 0.0).unwrap_or(0)
}
