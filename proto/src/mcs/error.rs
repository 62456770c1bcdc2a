//! The one error of reading an object: which object, which field, what is wrong.

/// A field of an object (or record) that cannot be used.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("{object}: field {field}: {reason}")]
pub struct ConvertError {
    /// `Kind namespace/name` of the object.
    pub object: String,
    /// Path of the field, e.g. `spec.ports[0].port`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl ConvertError {
    /// An error of `field` in `object`.
    pub fn new(object: &str, field: impl Into<String>, reason: impl Into<String>) -> Self {
        ConvertError {
            object: object.to_owned(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}
