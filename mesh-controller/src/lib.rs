//! The Isthmus controller.

pub use isthmus_placement as placement;
