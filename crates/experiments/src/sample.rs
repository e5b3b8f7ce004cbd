//! What a readout needs of one arm and metric: sums over the arm's users, as gbstats keeps them
//! (`ProportionStatistic`, `SampleMeanStatistic`), and the same for the pre-assignment covariate.

/// How a metric's variance is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A 0/1 metric (conversion, retention): variance p (1 − p).
    Proportion,
    /// Any number per user (revenue, event counts): the sample variance.
    Mean,
}

/// Sums of one metric over one arm's users.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub kind: Kind,
    pub n: u64,
    pub sum: f64,
    pub sum_squares: f64,
}

impl Sample {
    /// The sums of `values`.
    pub fn of(kind: Kind, values: impl IntoIterator<Item = f64>) -> Sample {
        values.into_iter().fold(Sample::empty(kind), |s, v| Sample {
            n: s.n + 1,
            sum: s.sum + v,
            sum_squares: s.sum_squares + v * v,
            ..s
        })
    }

    pub fn empty(kind: Kind) -> Sample {
        Sample {
            kind,
            n: 0,
            sum: 0.0,
            sum_squares: 0.0,
        }
    }

    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        self.sum / self.n as f64
    }

    pub fn variance(&self) -> f64 {
        match self.kind {
            Kind::Proportion => self.mean() * (1.0 - self.mean()),
            Kind::Mean if self.n <= 1 => 0.0,
            Kind::Mean => {
                (self.sum_squares - self.sum * self.sum / self.n as f64) / (self.n - 1) as f64
            }
        }
    }

    /// Both arms' users as one sample (for the pooled CUPED coefficient).
    pub fn joined(&self, other: &Sample) -> Sample {
        Sample {
            kind: self.kind,
            n: self.n + other.n,
            sum: self.sum + other.sum,
            sum_squares: self.sum_squares + other.sum_squares,
        }
    }
}

/// A metric after assignment and the same metric before it, over the same users.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paired {
    pub post: Sample,
    pub pre: Sample,
    /// Σ post × pre over the users.
    pub sum_products: f64,
}

impl Paired {
    /// The sums of `(post, pre)` pairs.
    pub fn of(kind: Kind, pairs: &[(f64, f64)]) -> Paired {
        Paired {
            post: Sample::of(kind, pairs.iter().map(|p| p.0)),
            pre: Sample::of(kind, pairs.iter().map(|p| p.1)),
            sum_products: pairs.iter().map(|(a, b)| a * b).sum(),
        }
    }

    /// The sample covariance of post and pre.
    pub fn covariance(&self) -> f64 {
        let n = self.post.n;
        if n <= 1 {
            return 0.0;
        }
        (self.sum_products - self.post.sum * self.pre.sum / n as f64) / (n - 1) as f64
    }

    /// Both arms' users as one paired sample.
    pub fn joined(&self, other: &Paired) -> Paired {
        Paired {
            post: self.post.joined(&other.post),
            pre: self.pre.joined(&other.pre),
            sum_products: self.sum_products + other.sum_products,
        }
    }
}
