//! Exit codes shared by every `isthmus` subcommand.

/// Exit code for invalid input (bad flags, unreadable or malformed files); nothing is written.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code for a command that ran and failed (a failed check, an unwritable output).
pub const EXIT_FAILED: u8 = 1;
