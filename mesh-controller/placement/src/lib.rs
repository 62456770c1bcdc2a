//! Karmada-compatible placement: which member clusters run a workload, with how many
//! replicas, and what each cluster's copy looks like after overrides.
