//! Reading documents: multi-document YAML, policy kinds with validation and Karmada's
//! defaulting, cluster files, resource templates and previous assignments.

mod defaults;
mod documents;
mod error;
mod inputs;
mod policy;
mod policy_set;
mod validate;

pub use defaults::default_placement;
pub use documents::parse_documents;
pub use error::LoadError;
pub use inputs::{clusters_from_yaml, previous_from_yaml, resource_from_yaml};
pub use policy::{AnyPolicy, policy_from_value};
pub use policy_set::{policies_from_values, policies_from_values_lenient, policies_from_yaml};
pub use validate::{validate_override_spec, validate_placement, validate_propagation_spec};
