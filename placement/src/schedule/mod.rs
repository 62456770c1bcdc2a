//! The scheduler: filter clusters, apply spread constraints, assign replicas.

mod affinity;
mod assign;
mod estimate;
mod filter;
mod outcome;
mod score;
mod spread;
mod strategy;
mod taints;
mod tiers;

pub use affinity::schedule;
pub use estimate::max_available_replicas;
pub use filter::FilterReason;
pub use outcome::{Decision, ScheduleError};
pub use strategy::{Strategy, strategy_of};
pub use taints::{Eviction, no_execute_evictions};
