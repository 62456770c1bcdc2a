//! Replica apportionment: the Webster (Sainte-Laguë) highest-averages method with Karmada's
//! tie-breaking, and Karmada's dispenser (divide a number of replicas by weights, starting
//! from an initial assignment).
//!
//! Ties follow Karmada's `helper.NewDispenser` (`pkg/util/helper/binding.go`): between two
//! clusters with the same priority `votes / (2 × seats + 1)` the one with fewer seats wins,
//! then the name decides, in ascending or descending order depending on the resource
//! template's UID ([`TieBreak::from_uid`]).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

/// How two clusters with the same priority and the same seats are ordered: Karmada's
/// `tieBreakerByUID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TieBreak {
    /// The lexicographically smaller name wins (an empty UID, or an even hash).
    #[default]
    NameAscending,
    /// The lexicographically larger name wins (an odd hash).
    NameDescending,
}

impl TieBreak {
    /// The order Karmada derives from a resource UID: ascending names for an empty UID,
    /// otherwise by the parity of the UID's 32-bit FNV-1a hash (odd: descending).
    pub fn from_uid(uid: &str) -> Self {
        if uid.is_empty() || fnv1a_32(uid.as_bytes()) & 1 == 0 {
            Self::NameAscending
        } else {
            Self::NameDescending
        }
    }
}

/// 32-bit FNV-1a.
fn fnv1a_32(bytes: &[u8]) -> u32 {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u32::from(*b)).wrapping_mul(PRIME))
}

/// One party (cluster) in an apportionment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// Cluster name.
    pub name: String,
    /// Weight (votes).
    pub votes: i64,
    /// Seats (replicas) held so far.
    pub seats: i32,
}

impl Party {
    /// A party with no seats.
    pub fn new(name: impl Into<String>, votes: i64) -> Self {
        Self {
            name: name.into(),
            votes,
            seats: 0,
        }
    }
}

struct Entry<'a> {
    votes: i64,
    seats: i32,
    name: &'a str,
    idx: usize,
    tie: TieBreak,
}

impl Ord for Entry<'_> {
    fn cmp(&self, b: &Self) -> Ordering {
        // priority votes / (2*seats + 1), compared exactly in integers
        let lhs = i128::from(self.votes) * (2 * i128::from(b.seats) + 1);
        let rhs = i128::from(b.votes) * (2 * i128::from(self.seats) + 1);
        lhs.cmp(&rhs)
            // fewer seats wins a tie
            .then_with(|| b.seats.cmp(&self.seats))
            // then the name, in the order the UID gives
            .then_with(|| match self.tie {
                TieBreak::NameAscending => b.name.cmp(self.name),
                TieBreak::NameDescending => self.name.cmp(b.name),
            })
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
pub fn allocate_webster(new_seats: i32, parties: &mut [Party], tie: TieBreak) {
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
                name: &p.name,
                idx,
                tie,
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

/// Karmada's dispenser (`NewDispenser(replicas, init, uid).AllocateByWeight(weights)`): divide
/// `replicas` among `weights` (cluster, weight) by Webster, starting from `init`, whose
/// replicas count as seats already held. Returns every cluster of `init` and `weights` in
/// name order (zero included); `init` unchanged when no weight is positive.
pub fn dispense(
    replicas: i32,
    weights: &[(String, i64)],
    init: &[(String, i32)],
    tie: TieBreak,
) -> Vec<(String, i32)> {
    if weights.iter().map(|w| w.1).sum::<i64>() <= 0 || (replicas <= 0 && !init.is_empty()) {
        return init.to_vec();
    }
    let mut parties: BTreeMap<&str, Party> = BTreeMap::new();
    for (name, seats) in init {
        parties.insert(
            name,
            Party {
                name: name.clone(),
                votes: 0,
                seats: *seats,
            },
        );
    }
    for (name, votes) in weights {
        parties
            .entry(name)
            .or_insert_with(|| Party::new(name.clone(), 0))
            .votes = *votes;
    }
    let mut parties: Vec<Party> = parties.into_values().collect();
    allocate_webster(replicas, &mut parties, tie);
    parties.into_iter().map(|p| (p.name, p.seats)).collect()
}

/// Add `extra` to `base` cluster by cluster (Karmada's `MergeTargetClusters`).
pub fn merge(base: &[(String, i32)], extra: &[(String, i32)]) -> Vec<(String, i32)> {
    let mut out: BTreeMap<String, i32> = base.iter().cloned().collect();
    for (name, r) in extra {
        *out.entry(name.clone()).or_insert(0) += r;
    }
    out.into_iter().collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn run(
        seats: i32,
        votes: &[(&str, i64)],
        initial: &[(&str, i32)],
        tie: TieBreak,
    ) -> Vec<(String, i32)> {
        let weights: Vec<(String, i64)> =
            votes.iter().map(|(n, v)| ((*n).to_string(), *v)).collect();
        let init: Vec<(String, i32)> = initial
            .iter()
            .map(|(n, s)| ((*n).to_string(), *s))
            .collect();
        dispense(seats, &weights, &init, tie)
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
            let got = run(round as i32 + 1, &votes, &[], TieBreak::default());
            let got: Vec<i32> = got.iter().map(|(_, s)| *s).collect();
            assert_eq!(&got, want, "round {}", round + 1);
        }
    }

    #[test]
    fn fnv_parity_of_karmadas_test_uids() {
        // pkg/util/helper/binding_test.go: evenUID and oddUID
        assert_eq!(
            TieBreak::from_uid("4858ca61-3ff8-4095-8267-f3d059d8074c"),
            TieBreak::NameAscending
        );
        assert_eq!(
            TieBreak::from_uid("d43fdeeb-d750-4e2b-bee3-64eb94534f4c"),
            TieBreak::NameDescending
        );
        assert_eq!(TieBreak::from_uid(""), TieBreak::NameAscending);
        // FNV-1a reference values
        assert_eq!(fnv1a_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
    }

    #[test]
    fn ties_and_initial_seats() {
        let asc = TieBreak::NameAscending;
        // tie broken by fewer seats
        assert_eq!(
            run(1, &[("PartyA", 3), ("PartyB", 1)], &[("PartyA", 1)], asc),
            v(&[("PartyA", 1), ("PartyB", 1)])
        );
        // tie broken by name, either way
        assert_eq!(
            run(1, &[("PartyA", 1), ("PartyB", 1)], &[], asc),
            v(&[("PartyA", 1), ("PartyB", 0)])
        );
        assert_eq!(
            run(
                1,
                &[("PartyA", 1), ("PartyB", 1)],
                &[],
                TieBreak::NameDescending
            ),
            v(&[("PartyA", 0), ("PartyB", 1)])
        );
        // a party without votes gets nothing new
        assert_eq!(
            run(
                2,
                &[("NewParty1", 1), ("NewParty2", 1)],
                &[("OldParty", 0)],
                asc
            ),
            v(&[("NewParty1", 1), ("NewParty2", 1), ("OldParty", 0)])
        );
        assert_eq!(
            run(
                2,
                &[("OldParty", 1), ("NewParty", 1)],
                &[("OldParty", 1)],
                asc
            ),
            v(&[("NewParty", 2), ("OldParty", 1)])
        );
        assert_eq!(
            run(2, &[("PartyA", 100)], &[("PartyB", 3)], asc),
            v(&[("PartyA", 2), ("PartyB", 3)])
        );
        // zero new seats leaves everything alone
        assert_eq!(
            run(0, &[("PartyA", 100), ("PartyB", 200)], &[], asc),
            v(&[("PartyA", 0), ("PartyB", 0)])
        );
        // no weight at all: the initial assignment is returned
        assert_eq!(
            run(3, &[("PartyA", 0)], &[("PartyB", 2)], asc),
            v(&[("PartyB", 2)])
        );
    }

    #[test]
    fn merge_adds_per_cluster() {
        assert_eq!(
            merge(&v(&[("A", 1), ("B", 2)]), &v(&[("B", 1), ("C", 3)])),
            v(&[("A", 1), ("B", 3), ("C", 3)])
        );
    }
}
