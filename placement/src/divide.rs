//! Replica apportionment: the Webster (Sainte-Laguë) highest-averages method with Karmada's
//! tie-breaking, and Karmada's dispenser (divide a number of new replicas by weights and merge
//! them into an initial assignment).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// One party (cluster) in an apportionment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// Cluster name.
    pub name: String,
    /// Weight (votes).
    pub votes: i64,
    /// Seats (replicas) held so far.
    pub seats: i32,
    /// Replicas the cluster had in the previous round (tie-breaker only).
    pub last: i32,
}

impl Party {
    /// A party with no seats.
    pub fn new(name: impl Into<String>, votes: i64) -> Self {
        Self {
            name: name.into(),
            votes,
            seats: 0,
            last: 0,
        }
    }
}

struct Entry<'a> {
    votes: i64,
    seats: i32,
    last: i32,
    name: &'a str,
    idx: usize,
}

impl Ord for Entry<'_> {
    fn cmp(&self, b: &Self) -> Ordering {
        // priority votes / (2*seats + 1), compared exactly in integers
        let lhs = i128::from(self.votes) * (2 * i128::from(b.seats) + 1);
        let rhs = i128::from(b.votes) * (2 * i128::from(self.seats) + 1);
        lhs.cmp(&rhs)
            // fewer seats wins a tie (Karmada's default tie-breaker)
            .then_with(|| b.seats.cmp(&self.seats))
            // then the cluster that held more replicas in the previous round
            .then_with(|| self.last.cmp(&b.last))
            // then the lexicographically smaller name
            .then_with(|| b.name.cmp(self.name))
    }
}
impl PartialOrd for Entry<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Entry<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry<'_> {}

/// Allocate `new_seats` more seats among `parties` by the Webster method. Seats already held
/// count in each party's divisor. Parties with zero votes gain no seats while any has votes.
pub fn allocate_webster(new_seats: i32, parties: &mut [Party]) {
    if parties.is_empty() || new_seats <= 0 || parties.iter().all(|p| p.votes <= 0) {
        return;
    }
    let mut gained = vec![0i32; parties.len()];
    {
        let mut heap: BinaryHeap<Entry<'_>> = parties
            .iter()
            .enumerate()
            .map(|(idx, p)| Entry {
                votes: p.votes.max(0),
                seats: p.seats,
                last: p.last,
                name: &p.name,
                idx,
            })
            .collect();
        for _ in 0..new_seats {
            let Some(mut top) = heap.pop() else { break };
            gained[top.idx] += 1;
            top.seats += 1;
            heap.push(top);
        }
    }
    for (p, g) in parties.iter_mut().zip(gained) {
        p.seats += g;
    }
}

/// Karmada's dispenser: divide `replicas` new replicas among `weights` (name, weight, last
/// replicas) by Webster and add them to `init`. Returns (name, replicas) in `init` order, then
/// new names in weight order.
pub fn take_by_weight(
    replicas: i32,
    weights: Vec<(String, i64, i32)>,
    init: &[(String, i32)],
) -> Vec<(String, i32)> {
    let mut parties: Vec<Party> = weights
        .into_iter()
        .map(|(name, votes, last)| Party {
            name,
            votes,
            seats: 0,
            last,
        })
        .collect();
    allocate_webster(replicas, &mut parties);
    let mut out: Vec<(String, i32)> = init.to_vec();
    let index: std::collections::HashMap<String, usize> = init
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.clone(), i))
        .collect();
    for p in parties {
        match index.get(&p.name) {
            Some(&i) => out[i].1 += p.seats,
            None => out.push((p.name, p.seats)),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn run(seats: i32, votes: &[(&str, i64)], initial: &[(&str, i32)]) -> Vec<(String, i32)> {
        let mut parties: Vec<Party> = votes.iter().map(|(n, v)| Party::new(*n, *v)).collect();
        for (n, s) in initial {
            if let Some(p) = parties.iter_mut().find(|p| p.name == *n) {
                p.seats = *s;
            } else {
                parties.push(Party {
                    name: (*n).into(),
                    votes: 0,
                    seats: *s,
                    last: 0,
                });
            }
        }
        allocate_webster(seats, &mut parties);
        parties.sort_by(|a, b| a.name.cmp(&b.name));
        parties.into_iter().map(|p| (p.name, p.seats)).collect()
    }

    fn v(items: &[(&str, i32)]) -> Vec<(String, i32)> {
        items.iter().map(|(n, s)| ((*n).to_string(), *s)).collect()
    }

    #[test]
    fn wikipedia_sainte_lague_rounds() {
        // The classic 230,000 voters / 8 seats example, seat by seat (also in Karmada's tests).
        let votes = [
            ("PartyA", 100_000),
            ("PartyB", 80_000),
            ("PartyC", 30_000),
            ("PartyD", 20_000),
        ];
        let expected = [
            [1, 0, 0, 0],
            [1, 1, 0, 0],
            [2, 1, 0, 0],
            [2, 1, 1, 0],
            [2, 2, 1, 0],
            [2, 2, 1, 1],
            [3, 2, 1, 1],
            [3, 3, 1, 1],
        ];
        for (round, want) in expected.iter().enumerate() {
            let got = run(round as i32 + 1, &votes, &[]);
            let got: Vec<i32> = got.iter().map(|(_, s)| *s).collect();
            assert_eq!(&got, want, "round {}", round + 1);
        }
    }

    #[test]
    fn example_alpha_beta_gamma() {
        let got = run(4, &[("Alpha", 1200), ("Beta", 900), ("Gamma", 400)], &[]);
        assert_eq!(got, v(&[("Alpha", 2), ("Beta", 1), ("Gamma", 1)]));
    }

    #[test]
    fn ties_and_initial_seats() {
        // tie broken by fewer seats
        assert_eq!(
            run(1, &[("PartyA", 3), ("PartyB", 1)], &[("PartyA", 1)]),
            v(&[("PartyA", 1), ("PartyB", 1)])
        );
        // tie broken by name
        assert_eq!(
            run(1, &[("PartyA", 1), ("PartyB", 1)], &[]),
            v(&[("PartyA", 1), ("PartyB", 0)])
        );
        // a party without votes gets nothing new
        assert_eq!(
            run(2, &[("NewParty1", 1), ("NewParty2", 1)], &[("OldParty", 0)]),
            v(&[("NewParty1", 1), ("NewParty2", 1), ("OldParty", 0)])
        );
        assert_eq!(
            run(2, &[("OldParty", 1), ("NewParty", 1)], &[("OldParty", 1)]),
            v(&[("NewParty", 2), ("OldParty", 1)])
        );
        assert_eq!(
            run(2, &[("PartyA", 100)], &[("PartyB", 3)]),
            v(&[("PartyA", 2), ("PartyB", 3)])
        );
        // zero new seats leaves everything alone
        assert_eq!(
            run(0, &[("PartyA", 100), ("PartyB", 200)], &[]),
            v(&[("PartyA", 0), ("PartyB", 0)])
        );
    }

    #[test]
    fn dispenser_merges_into_initial() {
        let weights = vec![
            ("A".to_string(), 1, 0),
            ("B".to_string(), 2, 0),
            ("C".to_string(), 3, 0),
        ];
        let init = v(&[("A", 1), ("B", 2), ("C", 3)]);
        assert_eq!(
            take_by_weight(6, weights.clone(), &init),
            v(&[("A", 2), ("B", 4), ("C", 6)])
        );
        // 3 new by 1:2:3: C and B take one each, then A (1/1) ties C (3/3) and wins on
        // fewer seats.
        assert_eq!(
            take_by_weight(3, weights, &init),
            v(&[("A", 2), ("B", 3), ("C", 4)])
        );
    }
}
