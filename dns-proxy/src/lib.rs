//! The Isthmus DNS proxy.
