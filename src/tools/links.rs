//! `resource_link` content items: a tool result that is about a session or a
//! task points at the resources that follow it, so a client can read or
//! subscribe to them without building URIs. The URIs are those of
//! [`crate::resources`].

use rmcp::model::{ContentBlock, Resource};

use crate::store::{SessionId, TaskId};

/// Links to a session's log and diff resources.
pub fn session(id: &SessionId) -> [ContentBlock; 2] {
    [
        ContentBlock::resource_link(
            Resource::new(format!("kanban://sessions/{id}/log"), "session-log")
                .with_title(format!("Log of session {id}"))
                .with_mime_type("text/plain"),
        ),
        ContentBlock::resource_link(
            Resource::new(format!("kanban://sessions/{id}/diff"), "session-diff")
                .with_title(format!("Changes of session {id}"))
                .with_mime_type("text/x-diff"),
        ),
    ]
}

/// A link to a task's resource.
pub fn task(id: &TaskId, title: &str) -> ContentBlock {
    ContentBlock::resource_link(
        Resource::new(format!("kanban://tasks/{id}"), "task")
            .with_title(title.to_owned())
            .with_mime_type("text/markdown"),
    )
}
