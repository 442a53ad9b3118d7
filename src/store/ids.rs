//! Typed ids: one newtype per kind of record, so a task id cannot be passed
//! where a project id belongs. On the wire (JSON, tool schemas, SQL
//! parameters) each is exactly the text UUID it wraps.
//!
//! ```compile_fail,E0308
//! use vibe_kanban_mcp::store::{ProjectId, TaskId};
//! fn takes_a_task(_: &TaskId) {}
//! let project = ProjectId::from("0193a000-0000-7000-8000-000000000000");
//! takes_a_task(&project); // a project id is not a task id
//! ```
//!
//! ```
//! use vibe_kanban_mcp::store::TaskId;
//! fn takes_a_task(_: &TaskId) {}
//! takes_a_task(&TaskId::from("0193a000-0000-7000-8000-000000000000"));
//! ```

use std::{borrow::Cow, fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use super::exec::Param;

macro_rules! typed_id {
    ($($(#[$meta:meta])* $name:ident;)+) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new time-ordered id (UUID v7).
            pub fn generate() -> Self {
                $name(super::new_id())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok($name(s.to_owned()))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                $name(value)
            }
        }

        /// A validated UUID from a tool argument, in its hyphenated form.
        impl From<uuid::Uuid> for $name {
            fn from(value: uuid::Uuid) -> Self {
                $name(value.to_string())
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name(value.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        /// Reads as the text it wraps (`&TaskId` goes where `&str` does),
        /// but one kind of id never becomes another.
        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl From<&$name> for Param {
            fn from(value: &$name) -> Self {
                Param::Text(value.0.clone())
            }
        }

        impl From<$name> for Param {
            fn from(value: $name) -> Self {
                Param::Text(value.0)
            }
        }

        /// Exactly a string's schema, so tool schemas read as before.
        impl schemars::JsonSchema for $name {
            fn inline_schema() -> bool {
                <String as schemars::JsonSchema>::inline_schema()
            }

            fn schema_name() -> Cow<'static, str> {
                <String as schemars::JsonSchema>::schema_name()
            }

            fn schema_id() -> Cow<'static, str> {
                <String as schemars::JsonSchema>::schema_id()
            }

            fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                <String as schemars::JsonSchema>::json_schema(generator)
            }
        }
    )+};
}

typed_id! {
    /// A workspace (team).
    WorkspaceId;
    /// A project (one board).
    ProjectId;
    /// A task on a board.
    TaskId;
    /// An agent session on a task.
    SessionId;
    /// One execution process (setup, coding agent, cleanup) of a session.
    ProcessId;
    /// A user (a member of workspaces).
    UserId;
    /// An MCP API key.
    KeyId;
    /// A permission request of an agent, waiting for (or given) an answer.
    ApprovalId;
    /// A comment on a task.
    CommentId;
}
