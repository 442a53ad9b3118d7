//! Compact JSON of the hottest structured output, a page of tasks, written
//! by hand: byte for byte what serde_json writes for it (a test compares
//! them), without serde's per-field calls and with a string escape that
//! copies runs of plain bytes eight at a time. serde_json looks up every
//! byte of every key and value in its escape table; for `list_tasks` (50
//! tasks with their descriptions, ~30 KB) that was the largest single
//! frame of the server's profile after malloc.

use crate::store::{Task, TaskPage};

/// Appends `text` as a JSON string (quotes included), escaped as
/// serde_json escapes it: `"` and `\` with a backslash, `\b \f \n \r \t`
/// by name, other control characters as `\u00XX` (lowercase hex); nothing
/// else (not `/`, not DEL, not non-ASCII).
pub fn push_str(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut at = 0;
    while at < bytes.len() {
        // Eight bytes at a time while none of them needs escaping.
        if let Some(chunk) = bytes.get(at..at + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            if !needs_escape(u64::from_le_bytes(word)) {
                at += 8;
                continue;
            }
        }
        let byte = bytes[at];
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => &[],
            _ => {
                at += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..at]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        at += 1;
        start = at;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Whether any byte of `word` is `"`, `\` or below 0x20 (exact for "any":
/// a borrow can only set a flag above a byte that already matched).
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    (control
        | has_zero(word ^ (ONES * u64::from(b'"')))
        | has_zero(word ^ (ONES * u64::from(b'\\'))))
        != 0
}

fn push_opt(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => push_str(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

fn push_int(out: &mut Vec<u8>, n: i64) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{n}");
}

/// A task, fields in their declared order (as serde derives them).
pub fn push_task(out: &mut Vec<u8>, task: &Task) {
    out.extend_from_slice(b"{\"id\":");
    push_str(out, task.id.as_str());
    out.extend_from_slice(b",\"project_id\":");
    push_str(out, task.project_id.as_str());
    out.extend_from_slice(b",\"parent_task_id\":");
    push_opt(out, task.parent_task_id.as_ref().map(|id| id.as_str()));
    out.extend_from_slice(b",\"title\":");
    push_str(out, &task.title);
    out.extend_from_slice(b",\"description\":");
    push_str(out, &task.description);
    out.extend_from_slice(b",\"status\":");
    push_str(out, task.status.as_str());
    out.extend_from_slice(b",\"position\":");
    push_int(out, task.position);
    out.extend_from_slice(b",\"assignee\":");
    push_opt(out, task.assignee.as_ref().map(|id| id.as_str()));
    out.extend_from_slice(b",\"assigned_at\":");
    push_opt(out, task.assigned_at.as_deref());
    out.extend_from_slice(b",\"assigned_by\":");
    push_opt(out, task.assigned_by.as_ref().map(|id| id.as_str()));
    out.extend_from_slice(b",\"created_by\":");
    push_opt(out, task.created_by.as_ref().map(|id| id.as_str()));
    out.extend_from_slice(b",\"created_at\":");
    push_str(out, &task.created_at);
    out.extend_from_slice(b",\"updated_at\":");
    push_str(out, &task.updated_at);
    out.push(b'}');
}

/// A page of tasks as compact JSON text.
pub fn task_page(page: &TaskPage) -> String {
    let text: usize = page
        .tasks
        .iter()
        .map(|t| t.title.len() + t.description.len())
        .sum();
    let mut out = Vec::with_capacity(64 + text + text / 16 + 400 * page.tasks.len());
    out.extend_from_slice(b"{\"tasks\":[");
    for (i, task) in page.tasks.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_task(&mut out, task);
    }
    out.extend_from_slice(b"],\"total\":");
    push_int(&mut out, page.total);
    out.extend_from_slice(b",\"next_cursor\":");
    push_opt(&mut out, page.next_cursor.as_deref());
    out.push(b'}');
    // Only whole UTF-8 strings and ASCII were written.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TaskStatus;

    fn serde_str(text: &str) -> Vec<u8> {
        serde_json::to_vec(text).expect("serde_json")
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut all_bytes: String = (0u8..=0x7f).map(char::from).collect();
        all_bytes.push_str("é✓😀 \u{2028}\u{7f}");
        let cases = [
            "",
            "plain",
            "exactly8",
            "sixteen bytes ok",
            "a \"quoted\" word",
            "back\\slash at the end\\",
            "tab\tnew\nline\rfeed\u{c}bell\u{7}\u{8}\u{0}\u{1f}",
            "long plain text long plain text long plain text \"q\" tail",
            "0123456\"",
            "01234567\"",
            "012345678\n",
            &all_bytes,
        ];
        for text in cases {
            let mut ours = Vec::new();
            push_str(&mut ours, text);
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&serde_str(text)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_task_page_is_written_as_serde_json_writes_it() {
        let task = |n: i64, full: bool| Task {
            id: format!("0193a5e2-0000-7000-8000-00000000000{n}").into(),
            project_id: "0193a5e2-0000-7000-8000-0000000000aa".to_owned().into(),
            parent_task_id: full.then(|| "0193a5e2-0000-7000-8000-0000000000bb".to_owned().into()),
            title: format!("Task \"{n}\" ✓"),
            description: "line one\nline two\twith \\ and \u{1}".to_owned(),
            status: if full {
                TaskStatus::Inreview
            } else {
                TaskStatus::Todo
            },
            position: n * -1000,
            assignee: full.then(|| "user-1".to_owned().into()),
            assigned_at: full.then(|| "2026-12-01T00:00:00.000Z".to_owned()),
            assigned_by: full.then(|| "user-2".to_owned().into()),
            created_by: (!full).then(|| "user-3".to_owned().into()),
            created_at: "2026-12-01T00:00:00.000Z".to_owned(),
            updated_at: "2026-12-01T00:00:01.000Z".to_owned(),
        };
        for next_cursor in [None, Some("eyJwIjoxfQ".to_owned())] {
            let page = TaskPage {
                tasks: vec![task(1, true), task(2, false), task(3, true)],
                total: 42,
                next_cursor: next_cursor.clone(),
            };
            assert_eq!(
                task_page(&page),
                serde_json::to_string(&page).expect("serde_json"),
                "{next_cursor:?}"
            );
        }
        let empty = TaskPage {
            tasks: Vec::new(),
            total: 0,
            next_cursor: None,
        };
        assert_eq!(
            task_page(&empty),
            serde_json::to_string(&empty).expect("serde_json")
        );
    }
}
