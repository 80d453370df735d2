//! `snap init`: create a repository.

use std::sync::Arc;

use serde::Serialize;

use super::OpError;
use crate::backend::Backend;
use crate::repo::{InitOptions, Repository};

/// What `init` made.
#[derive(Debug, Serialize)]
pub struct InitReport {
    /// The repository's ID.
    pub repository_id: String,
    /// Where it is.
    pub location: String,
    /// The first key's ID.
    pub key_id: String,
}

/// Creates a repository at `backend`.
pub fn init(
    backend: Arc<dyn Backend>,
    password: &[u8],
    options: &InitOptions,
) -> Result<InitReport, OpError> {
    let location = backend.location();
    let repo = Repository::init(backend, password, options)?;
    Ok(InitReport {
        repository_id: repo.config().id.to_hex(),
        location,
        key_id: repo.key_id().to_hex(),
    })
}
