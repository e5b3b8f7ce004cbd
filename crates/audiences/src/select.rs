//! Who of each audience's matched users is contacted: audiences are decided from the highest
//! priority down, and each matched user either joins or is kept out for the first reason that
//! applies, in this order: consent, the holdout group, an exclusive group already joined, the
//! channel's frequency cap, the audience's size limit.

/// One audience, as selection sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Audience {
    /// Index of its channel in [`Population::contactable`].
    pub channel: usize,
    /// Higher goes first; audiences of equal priority go in the order given.
    pub priority: i64,
    pub max_size: Option<usize>,
    /// Index of its exclusive group: a user joins at most one audience of a group.
    pub exclusive_group: Option<usize>,
    /// The users its rule matched, best first (the order `max_size` keeps).
    pub matched: Vec<u32>,
}

/// What selection needs to know of every user, per channel.
#[derive(Debug, Clone, Default)]
pub struct Population {
    /// Per channel, per user: may they be contacted on it (consent)?
    pub contactable: Vec<Vec<bool>>,
    /// Per user: in the global holdout group?
    pub held_out: Vec<bool>,
    /// Per channel: the most contacts a user may get within the cap's window (None: no cap).
    pub caps: Vec<Option<u32>>,
    /// Per channel, per user: contacts already sent within the cap's window.
    pub sent: Vec<Vec<u32>>,
}

/// Why a matched user is not in an audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Suppression {
    /// Not contactable on the audience's channel.
    Consent,
    /// In the global holdout group.
    Holdout,
    /// Already in a higher-priority audience of the same exclusive group.
    ExclusiveGroup,
    /// The channel's frequency cap is reached with the sends already made and planned.
    FrequencyCap,
    /// Ranked below the audience's `max_size`.
    MaxSize,
}

impl Suppression {
    /// Every reason, in the order they are checked.
    pub const ALL: [Suppression; 5] = [
        Suppression::Consent,
        Suppression::Holdout,
        Suppression::ExclusiveGroup,
        Suppression::FrequencyCap,
        Suppression::MaxSize,
    ];

    /// The name in tables and the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Suppression::Consent => "consent",
            Suppression::Holdout => "holdout",
            Suppression::ExclusiveGroup => "exclusive_group",
            Suppression::FrequencyCap => "frequency_cap",
            Suppression::MaxSize => "max_size",
        }
    }
}

/// What happened to one matched user of one audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Member,
    Suppressed(Suppression),
}

/// Per audience (in the order given), each matched user and their decision, in the audience's
/// ranking order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    pub decisions: Vec<Vec<(u32, Decision)>>,
}

impl Selection {
    /// Members of audience `a`.
    pub fn members(&self, a: usize) -> impl Iterator<Item = u32> + '_ {
        self.decisions[a]
            .iter()
            .filter(|(_, d)| *d == Decision::Member)
            .map(|(u, _)| *u)
    }
}

/// Decides every audience. Panics only on indices outside `pop` (a caller's bug).
pub fn select(audiences: &[Audience], pop: &Population) -> Selection {
    let mut order: Vec<usize> = (0..audiences.len()).collect();
    order.sort_by_key(|&a| std::cmp::Reverse(audiences[a].priority)); // stable: spec order on ties
    let groups = audiences
        .iter()
        .filter_map(|a| a.exclusive_group)
        .max()
        .map_or(0, |g| g + 1);
    let mut state = State {
        pop,
        planned: pop.sent.clone(),
        joined: vec![vec![false; pop.held_out.len()]; groups],
    };
    let mut decisions = vec![Vec::new(); audiences.len()];
    for a in order {
        decisions[a] = state.decide(&audiences[a]);
    }
    Selection { decisions }
}

/// What the audiences decided so far: sends planned per channel and exclusive groups joined.
struct State<'a> {
    pop: &'a Population,
    /// Per channel, per user: contacts sent plus those planned by this run.
    planned: Vec<Vec<u32>>,
    /// Per exclusive group, per user: joined one of its audiences.
    joined: Vec<Vec<bool>>,
}

impl State<'_> {
    fn decide(&mut self, a: &Audience) -> Vec<(u32, Decision)> {
        let mut members = 0;
        let mut out = Vec::with_capacity(a.matched.len());
        for &u in &a.matched {
            let decision = match self.barrier(a, u as usize) {
                Some(reason) => Decision::Suppressed(reason),
                None if a.max_size.is_some_and(|m| members >= m) => {
                    Decision::Suppressed(Suppression::MaxSize)
                }
                None => {
                    members += 1;
                    self.join(a, u as usize);
                    Decision::Member
                }
            };
            out.push((u, decision));
        }
        out
    }

    /// The first reason, before the size limit, that keeps user `u` out of `a`.
    fn barrier(&self, a: &Audience, u: usize) -> Option<Suppression> {
        let pop = self.pop;
        if !pop.contactable[a.channel][u] {
            return Some(Suppression::Consent);
        }
        if pop.held_out[u] {
            return Some(Suppression::Holdout);
        }
        if a.exclusive_group.is_some_and(|g| self.joined[g][u]) {
            return Some(Suppression::ExclusiveGroup);
        }
        if pop.caps[a.channel].is_some_and(|cap| self.planned[a.channel][u] >= cap) {
            return Some(Suppression::FrequencyCap);
        }
        None
    }

    fn join(&mut self, a: &Audience, u: usize) {
        self.planned[a.channel][u] += 1;
        if let Some(g) = a.exclusive_group {
            self.joined[g][u] = true;
        }
    }
}

#[cfg(test)]
mod tests;
