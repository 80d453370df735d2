//! What kind of failure an error is, whatever layer it comes from: the one
//! vocabulary exit codes (and `--json` error objects) are derived from, so a
//! new wrapper error keeps its cause's meaning instead of becoming "fatal".

/// The kind of a failure, as a caller acts on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No repository at the location given.
    NoRepository,
    /// The repository is locked by another process, its lock cannot be
    /// written, or this process lost its lock.
    Locked,
    /// No key file opens with the password given.
    WrongPassword,
    /// Ctrl-C or SIGTERM stopped the work.
    Interrupted,
    /// Anything else: the message says what and what to do.
    Other,
}
