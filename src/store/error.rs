//! How the data layer fails: [`StoreError`], the [`Entity`] a not-found
//! error names, and the typed [`Cause`] kept as a failure's source.

/// What went wrong in the data layer. Messages name the thing and say what to do.
///
/// Variants that wrap a SQLite, D1 (HTTP), I/O or JSON failure keep it as
/// their [`source`](std::error::Error::source): the message is the context,
/// and [`StoreError::full_message`] (or `{:#}` through anyhow) prints both.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} {id} not found in this workspace")]
    NotFound { entity: Entity, id: String },
    /// The request conflicts with what is stored (a duplicate name, a cycle).
    #[error("{0}")]
    Conflict(String),
    /// A value the caller gave is not acceptable.
    #[error("{0}")]
    Invalid(String),
    #[error("constraint violated: {0}")]
    Constraint(String),
    /// The database refused a statement.
    #[error("{message}")]
    Sql {
        message: String,
        #[source]
        source: Option<Cause>,
    },
    #[error("{0}")]
    Migration(String),
    /// The database cannot be reached or opened right now.
    #[error("{message}")]
    Unavailable {
        message: String,
        #[source]
        source: Option<Cause>,
    },
    #[error("{message}")]
    Decode {
        message: String,
        #[source]
        source: Option<Cause>,
    },
}

/// The typed failure under a [`StoreError`], kept as its source.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Worker(#[from] tokio::task::JoinError),
}

/// The kind of thing a [`StoreError::NotFound`] names; its `Display` is the
/// word the messages use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Workspace,
    Project,
    Task,
    Session,
    Process,
    Template,
    Key,
    User,
    /// A user who is not a member of the caller's workspace.
    Member,
    /// An agent's permission request.
    Approval,
    /// A comment on a task.
    Comment,
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Entity::Workspace => "workspace",
            Entity::Project => "project",
            Entity::Task => "task",
            Entity::Session => "session",
            Entity::Process => "process",
            Entity::Template => "prompt template",
            Entity::Key => "API key",
            Entity::User => "user",
            Entity::Member => "member",
            Entity::Approval => "approval",
            Entity::Comment => "comment",
        })
    }
}

impl StoreError {
    /// `entity` `id` is not in the caller's workspace (or nowhere).
    pub fn not_found(entity: Entity, id: impl std::fmt::Display) -> Self {
        StoreError::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    /// The database refused a statement; `message` is what it said.
    pub(crate) fn sql(message: impl std::fmt::Display) -> Self {
        StoreError::Sql {
            message: format!("SQL error: {message}"),
            source: None,
        }
    }

    /// The database cannot be reached; `message` says why and what to do.
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        StoreError::Unavailable {
            message: message.into(),
            source: None,
        }
    }

    /// The database cannot be reached because of `source`.
    pub(crate) fn unavailable_by(message: impl Into<String>, source: impl Into<Cause>) -> Self {
        StoreError::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// Data that does not have the shape the store expects.
    pub(crate) fn decode(message: impl std::fmt::Display) -> Self {
        StoreError::Decode {
            message: format!("unexpected data from the database: {message}"),
            source: None,
        }
    }

    /// Data that does not have the expected shape, because of `source`.
    pub(crate) fn decode_by(message: impl std::fmt::Display, source: impl Into<Cause>) -> Self {
        StoreError::Decode {
            message: format!("unexpected data from the database: {message}"),
            source: Some(source.into()),
        }
    }

    /// The message and the failure right under it (`context: cause`): the
    /// words shown to the model and the operator. The cause's own causes
    /// (SQLite's result code, hyper's connection error) stay in `source()`.
    pub fn full_message(&self) -> String {
        match std::error::Error::source(self) {
            Some(cause) => format!("{self}: {cause}"),
            None => self.to_string(),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
