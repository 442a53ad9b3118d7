//! One paging scheme for every list: a [`Page<T>`] of items and an opaque
//! cursor that points past its last item. A cursor is a [`PageKey`] (the
//! sort key of one list) in one codec, so encode and decode agree by
//! construction, and a cursor of one list is refused by another.
//!
//! Lists in SQL page by keyset (`WHERE key > cursor ORDER BY key LIMIT n + 1`:
//! the extra row says more follow); the short fixed lists (resource
//! templates) page by [`Offset`].

use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// The sort key of one list, as a cursor carries it.
pub trait PageKey: Serialize + DeserializeOwned {
    /// Which list the cursor belongs to; a cursor of another list is refused.
    const LIST: &'static str;

    /// Whether a decoded key is one this server could have issued.
    fn is_valid(&self) -> bool {
        true
    }
}

/// What a cursor holds: the list it belongs to and its key.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<K> {
    list: String,
    key: K,
}

/// The opaque text of a cursor for `key`.
pub fn encode<K: PageKey>(key: K) -> String {
    let envelope = Envelope {
        list: K::LIST.to_owned(),
        key,
    };
    // Serialising a struct of strings and numbers cannot fail.
    hex::encode(serde_json::to_vec(&envelope).unwrap_or_default())
}

/// The key of a cursor made by [`encode`] for this list; `None` for text
/// that is not one (tampered, truncated, or another list's).
pub fn decode<K: PageKey>(cursor: &str) -> Option<K> {
    let bytes = hex::decode(cursor).ok()?;
    let envelope: Envelope<K> = serde_json::from_slice(&bytes).ok()?;
    (envelope.list == K::LIST && envelope.key.is_valid()).then_some(envelope.key)
}

/// One page of a list, and the cursor of the next page (absent on the last).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page from up to `limit + 1` rows read in key order: the extra row
    /// only says that more follow, and the cursor points past the last kept.
    pub fn from_rows<K: PageKey>(mut rows: Vec<T>, limit: usize, key: impl Fn(&T) -> K) -> Self {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more {
            rows.last().map(|last| encode(key(last)))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    /// The page of `items` (all of a short, fixed list) that starts at `start`.
    pub fn slice(items: &[T], start: Offset, size: usize) -> Self
    where
        T: Clone,
    {
        let end = start.0.saturating_add(size).min(items.len());
        Page {
            items: items
                .get(start.0..end)
                .map(<[T]>::to_vec)
                .unwrap_or_default(),
            next_cursor: (end < items.len()).then(|| encode(Offset(end))),
        }
    }
}

fn is_uuid(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok()
}

/// Position in a project's tasks (`ORDER BY position, id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskKey {
    pub position: i64,
    pub id: String,
}

impl PageKey for TaskKey {
    const LIST: &'static str = "tasks";
    fn is_valid(&self) -> bool {
        is_uuid(&self.id)
    }
}

/// Position in a workspace's projects (`ORDER BY name, id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectKey {
    pub name: String,
    pub id: String,
}

impl PageKey for ProjectKey {
    const LIST: &'static str = "projects";
    fn is_valid(&self) -> bool {
        is_uuid(&self.id)
    }
}

/// Position in a workspace's sessions, newest first
/// (`ORDER BY created_at DESC, id DESC`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionKey {
    pub created_at: String,
    pub id: String,
}

impl PageKey for SessionKey {
    const LIST: &'static str = "sessions";
    fn is_valid(&self) -> bool {
        is_uuid(&self.id)
    }
}

/// The sort key of `list_approvals` (`ORDER BY requested_at, id`: the
/// oldest request first, the order to answer them in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalKey {
    pub requested_at: String,
    pub id: String,
}

impl PageKey for ApprovalKey {
    const LIST: &'static str = "approvals";
    fn is_valid(&self) -> bool {
        is_uuid(&self.id)
    }
}

/// Position in a task's comments, oldest first (`ORDER BY created_at, id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentKey {
    pub created_at: String,
    pub id: String,
}

impl PageKey for CommentKey {
    const LIST: &'static str = "comments";
    fn is_valid(&self) -> bool {
        is_uuid(&self.id)
    }
}

/// Position in the activity feed, newest first
/// (`ORDER BY created_at DESC, id DESC`). Audit ids are UUIDs, or (rows
/// one statement writes per task or key) random text of that shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityKey {
    pub created_at: String,
    pub id: String,
}

impl PageKey for ActivityKey {
    const LIST: &'static str = "activity";
    fn is_valid(&self) -> bool {
        self.id.len() == 36 && self.id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
    }
}

/// Index of a page's first item in a short, fixed list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Offset(pub usize);

impl PageKey for Offset {
    const LIST: &'static str = "offset";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> String {
        super::super::new_id()
    }

    #[test]
    fn every_key_round_trips() {
        let task = TaskKey {
            position: -42,
            id: id(),
        };
        assert_eq!(decode::<TaskKey>(&encode(task.clone())), Some(task));
        let project = ProjectKey {
            name: "a: name, with \"quotes\" and ünïcode".into(),
            id: id(),
        };
        assert_eq!(
            decode::<ProjectKey>(&encode(project.clone())),
            Some(project)
        );
        let session = SessionKey {
            created_at: "2026-12-01T12:00:00.000Z".into(),
            id: id(),
        };
        assert_eq!(
            decode::<SessionKey>(&encode(session.clone())),
            Some(session)
        );
        assert_eq!(decode::<Offset>(&encode(Offset(50))), Some(Offset(50)));
    }

    #[test]
    fn tampered_and_foreign_cursors_are_refused() {
        let cursor = encode(ProjectKey {
            name: "alpha".into(),
            id: id(),
        });
        // Another list's cursor.
        assert_eq!(decode::<TaskKey>(&cursor), None);
        assert_eq!(decode::<SessionKey>(&cursor), None);
        // Not hex, cut short, or edited.
        assert_eq!(decode::<ProjectKey>("zz"), None);
        assert_eq!(decode::<ProjectKey>(&cursor[..cursor.len() - 2]), None);
        let edited = hex::encode(r#"{"list":"projects","key":{"name":"a","id":"not-a-uuid"}}"#);
        assert_eq!(decode::<ProjectKey>(&edited), None);
        let extra = hex::encode(r#"{"list":"offset","key":3,"more":1}"#);
        assert_eq!(decode::<Offset>(&extra), None);
        // The old offset cursors ("50") are not cursors any more.
        assert_eq!(decode::<Offset>("50"), None);
    }

    #[test]
    fn pages_from_rows_and_slices() {
        let rows: Vec<i64> = (0..5).collect();
        let page = Page::from_rows(rows.clone(), 3, |n| Offset(*n as usize));
        assert_eq!(page.items, vec![0, 1, 2]);
        assert_eq!(
            page.next_cursor.as_deref().and_then(decode::<Offset>),
            Some(Offset(2))
        );
        let last = Page::from_rows(rows.clone(), 5, |n| Offset(*n as usize));
        assert_eq!(last.next_cursor, None);

        let first = Page::slice(&rows, Offset(0), 2);
        assert_eq!(first.items, vec![0, 1]);
        let next = first.next_cursor.as_deref().and_then(decode::<Offset>);
        assert_eq!(next, Some(Offset(2)));
        let end = Page::slice(&rows, Offset(4), 2);
        assert_eq!((end.items, end.next_cursor), (vec![4], None));
        assert!(Page::slice(&rows, Offset(99), 2).items.is_empty());
    }
}
