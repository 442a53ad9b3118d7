//! The store's contract, in-process: the same cases against a SQLite file and
//! the local D1, through `Store` itself (no MCP, no binary). Both executors
//! run one SQL text, so anything that differs between them fails here first.

use crate::common;

use common::{Backend, DataDir};
use serde_json::json;
use vibe_kanban_mcp::{
    commands,
    config::{StoreConfig, StoreKind},
    store::{
        ActivityFilter, ActivityKey, ActivityScope, Actor, CommentKey, NewProject, NewTask,
        ProjectId, Store, StoreError, TaskChanges, TaskFilter, TaskId, TaskKey, TaskStatus, page,
    },
};

/// A migrated store of `backend` on `data` (empty), as `serve` opens it.
async fn open(data: &DataDir) -> Store {
    let env: std::collections::HashMap<String, String> = data.store_env().into_iter().collect();
    let kind = if data.d1().is_some() {
        StoreKind::D1
    } else {
        StoreKind::Sqlite
    };
    let config = StoreConfig::resolve(kind, data.path().to_owned(), |name| env.get(name).cloned())
        .expect("store settings");
    commands::open_store(&config).await.expect("open the store")
}

async fn project(store: &Store, actor: &Actor, name: &str) -> ProjectId {
    store
        .create_project(
            actor,
            NewProject {
                name: name.to_owned(),
                ..NewProject::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("create project {name}: {e}"))
        .id
}

async fn task(
    store: &Store,
    actor: &Actor,
    project_id: &ProjectId,
    title: &str,
    status: TaskStatus,
    parent: Option<&TaskId>,
) -> TaskId {
    store
        .create_task(
            actor,
            NewTask {
                project_id: project_id.clone(),
                title: title.to_owned(),
                description: String::new(),
                status,
                parent_task_id: parent.cloned(),
                assignee: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("create task {title}: {e}"))
        .id
}

fn filter(statuses: Vec<TaskStatus>, limit: u32, cursor: Option<&str>) -> TaskFilter {
    TaskFilter {
        statuses,
        assignee: None,
        parent_task_id: None,
        query: None,
        limit,
        after: cursor.map(|c| page::decode::<TaskKey>(c).expect("the store's own cursor")),
        created_by: None,
    }
}

/// Projects page in name order, each once, and a name is unique in a
/// workspace.
async fn projects_page_in_name_order_and_names_are_unique(backend: Backend) {
    let data = DataDir::empty(backend);
    let store = open(&data).await;
    let owner = store.ensure_local_owner().await.expect("local owner");
    for name in ["Delta", "alpha", "Charlie", "Bravo", "Echo"] {
        project(&store, &owner, name).await;
    }
    let duplicate = store
        .create_project(
            &owner,
            NewProject {
                name: "Bravo".to_owned(),
                ..NewProject::default()
            },
        )
        .await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "{duplicate:?}"
    );

    let mut names = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_projects_page(&owner, after.as_ref(), 2)
            .await
            .expect("a page of projects");
        assert!(page.items.len() <= 2);
        names.extend(page.items.iter().map(|p| p.name.clone()));
        match page.next_cursor {
            Some(cursor) => after = Some(page::decode(&cursor).expect("the store's own cursor")),
            None => break,
        }
    }
    assert_eq!(names, ["Bravo", "Charlie", "Delta", "Echo", "alpha"]);
    let all: Vec<String> = store
        .list_projects(&owner)
        .await
        .expect("projects")
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(all, names);
}

/// Tasks filter by status, page by board position with a total over all
/// pages, and a status change moves a task between filters.
async fn tasks_filter_page_and_count(backend: Backend) {
    let data = DataDir::empty(backend);
    let store = open(&data).await;
    let owner = store.ensure_local_owner().await.expect("local owner");
    let board = project(&store, &owner, "Board").await;
    let mut todo = Vec::new();
    for i in 0..5 {
        todo.push(
            task(
                &store,
                &owner,
                &board,
                &format!("todo {i}"),
                TaskStatus::Todo,
                None,
            )
            .await,
        );
    }
    let done = task(&store, &owner, &board, "done", TaskStatus::Done, None).await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .list_tasks(
                &owner,
                &board,
                &filter(vec![TaskStatus::Todo], 2, cursor.as_deref()),
            )
            .await
            .expect("a page of tasks");
        assert_eq!(page.total, 5, "the total counts every page");
        seen.extend(page.tasks.iter().map(|t| t.id.clone()));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, todo, "each todo task once, in board order");

    store
        .update_task(
            &owner,
            &done,
            TaskChanges {
                status: Some(TaskStatus::Todo),
                ..TaskChanges::default()
            },
        )
        .await
        .expect("move back to todo");
    let todo_now = store
        .list_tasks(&owner, &board, &filter(vec![TaskStatus::Todo], 50, None))
        .await
        .expect("todo tasks");
    assert_eq!(todo_now.total, 6);
    assert!(todo_now.tasks.iter().any(|t| t.id == done));
    let done_now = store
        .list_tasks(&owner, &board, &filter(vec![TaskStatus::Done], 50, None))
        .await
        .expect("done tasks");
    assert_eq!(done_now.total, 0);
}

/// Deleting a task deletes its subtree in one batch with one audit row
/// naming every id; the ids are then not found.
async fn deleting_a_task_removes_its_subtree_and_is_audited(backend: Backend) {
    let data = DataDir::empty(backend);
    let store = open(&data).await;
    let owner = store.ensure_local_owner().await.expect("local owner");
    let board = project(&store, &owner, "Board").await;
    let parent = task(&store, &owner, &board, "parent", TaskStatus::Todo, None).await;
    let child = task(
        &store,
        &owner,
        &board,
        "child",
        TaskStatus::Todo,
        Some(&parent),
    )
    .await;
    let grandchild = task(
        &store,
        &owner,
        &board,
        "grand",
        TaskStatus::Todo,
        Some(&child),
    )
    .await;
    let other = task(&store, &owner, &board, "other", TaskStatus::Todo, None).await;

    let detail = store.get_task(&owner, &parent).await.expect("parent");
    assert_eq!(detail.subtask_count, 1);
    assert_eq!(detail.subtasks[0].id, child);

    let mut deleted = store
        .delete_task(&owner, &parent)
        .await
        .expect("delete")
        .deleted_ids;
    deleted.sort();
    let mut expected = vec![parent.clone(), child.clone(), grandchild.clone()];
    expected.sort();
    assert_eq!(deleted, expected);
    for id in [&parent, &child, &grandchild] {
        let gone = store.get_task(&owner, id).await;
        assert!(
            matches!(gone, Err(StoreError::NotFound { .. })),
            "{id}: {gone:?}"
        );
    }
    store
        .get_task(&owner, &other)
        .await
        .expect("a sibling stays");
    let audit = data.rows(
        "SELECT entity_id FROM audit_logs WHERE action = 'delete' AND entity_type = 'task'",
        &[],
    );
    assert_eq!(
        audit,
        [vec![json!(parent.as_str())]],
        "one audit row per deletion"
    );
}

/// Another workspace's rows are not found and not listed, on every path.
async fn another_workspace_sees_nothing(backend: Backend) {
    let data = DataDir::empty(backend);
    let store = open(&data).await;
    let owner = store.ensure_local_owner().await.expect("local owner");
    let board = project(&store, &owner, "Secret").await;
    let secret = task(&store, &owner, &board, "secret", TaskStatus::Todo, None).await;
    let stranger = store
        .create_workspace("Beta", "beta", "b@example.com", "B")
        .await
        .expect("second workspace");

    assert!(
        store
            .list_projects(&stranger)
            .await
            .expect("list")
            .is_empty()
    );
    let probes = [
        store.get_project(&stranger, &board).await.map(|_| ()),
        store.get_task(&stranger, &secret).await.map(|_| ()),
        store
            .list_tasks(&stranger, &board, &filter(vec![], 10, None))
            .await
            .map(|_| ()),
        store
            .update_task(
                &stranger,
                &secret,
                TaskChanges {
                    title: Some("mine".to_owned()),
                    ..TaskChanges::default()
                },
            )
            .await
            .map(|_| ()),
        store.delete_task(&stranger, &secret).await.map(|_| ()),
    ];
    for (i, probe) in probes.into_iter().enumerate() {
        assert!(
            matches!(probe, Err(StoreError::NotFound { .. })),
            "probe {i}: {probe:?}"
        );
    }
    let task = store.get_task(&owner, &secret).await.expect("still there");
    assert_eq!(task.task.title, "secret", "the stranger changed nothing");
}

/// Comments page oldest first, each once; only the author (or an admin)
/// changes one; a deleted one is hidden and stays deleted; the feed pages
/// newest first over the same changes, each once.
async fn comments_and_their_feed(backend: Backend) {
    let data = DataDir::empty(backend);
    let store = open(&data).await;
    let owner = store.ensure_local_owner().await.expect("local owner");
    let board = project(&store, &owner, "Talk").await;
    let topic = task(&store, &owner, &board, "Topic", TaskStatus::Todo, None).await;
    let mut made = Vec::new();
    for n in 0..7 {
        let comment = store
            .add_comment(&owner, &topic, &format!("note {n}"))
            .await
            .expect("add");
        assert!(!comment.by_agent);
        made.push(comment.id);
    }
    let mut seen = Vec::new();
    let mut after: Option<CommentKey> = None;
    loop {
        let page = store
            .list_comments(&owner, &topic, 3, after.as_ref())
            .await
            .expect("page");
        assert_eq!(page.total, 7);
        seen.extend(page.comments.iter().map(|c| c.id.clone()));
        match page.next_cursor {
            Some(cursor) => after = Some(page::decode(&cursor).expect("own cursor")),
            None => break,
        }
    }
    assert_eq!(seen, made, "oldest first, each once");

    let stranger = store
        .create_workspace("Beta", "beta", "b@example.com", "B")
        .await
        .expect("second workspace");
    let refused = store
        .update_comment(&stranger, &made[0], "mine", true)
        .await;
    assert!(
        matches!(refused, Err(StoreError::NotFound { .. })),
        "{refused:?}"
    );
    let not_author = Actor {
        user_id: stranger.user_id.clone(),
        ..owner.clone()
    };
    let refused = store
        .update_comment(&not_author, &made[0], "mine", false)
        .await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );
    let edited = store
        .update_comment(&not_author, &made[0], "as admin", true)
        .await
        .expect("an admin edits");
    assert_eq!(edited.body, "as admin");
    let deleted = store
        .delete_comment(&owner, &made[1], false)
        .await
        .expect("delete");
    assert!(deleted.deleted_at.is_some() && deleted.body.is_empty());
    let refused = store.update_comment(&owner, &made[1], "back", false).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );
    let detail = store.get_task(&owner, &topic).await.expect("task");
    assert_eq!(detail.comment_count, 6);
    assert_eq!(detail.latest_comments.len(), 3);
    assert_eq!(detail.latest_comments[0].id, made[6]);

    // The feed: 1 task + 7 comments + 1 edit + 1 delete, newest first.
    let mut lines = Vec::new();
    let mut before: Option<ActivityKey> = None;
    loop {
        let page = store
            .list_activity(
                &owner,
                &ActivityFilter {
                    scope: ActivityScope::Task(topic.clone()),
                    actor: None,
                    action: None,
                    since: None,
                    until: None,
                    limit: 4,
                    before: before.clone(),
                },
            )
            .await
            .expect("feed");
        lines.extend(page.entries.iter().map(|e| (e.at.clone(), e.line.clone())));
        match page.next_cursor {
            Some(cursor) => before = Some(page::decode(&cursor).expect("own cursor")),
            None => break,
        }
    }
    assert_eq!(lines.len(), 10, "{lines:#?}");
    assert!(lines.windows(2).all(|w| w[0].0 >= w[1].0), "{lines:#?}");
    assert!(
        lines[0].1.ends_with("deleted a comment on task 'Topic'"),
        "{lines:#?}"
    );
    assert!(lines[9].1.ends_with("created task 'Topic'"), "{lines:#?}");
}

on_both_stores!(
    comments_and_their_feed,
    projects_page_in_name_order_and_names_are_unique,
    tasks_filter_page_and_count,
    deleting_a_task_removes_its_subtree_and_is_audited,
    another_workspace_sees_nothing,
);
