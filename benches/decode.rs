//! Benchmark: decoding a page of task rows (`list_tasks`' 50 plus the one
//! that says whether there is a next page) from the store's rows into
//! `Task`s, by serde's name matching (`StmtResult::into_all`) and by column
//! position (`StmtResult::into_rows`, `FromRow`). In-process, no SQLite:
//! only the decode, and the drop of what it made.
//!
//! Run by hand (not in CI): `cargo bench --bench decode`. Figures:
//! BENCHMARKS.md.

use std::{sync::Arc, time::Instant};

use serde_json::{Value, json};
use vibe_kanban_mcp::store::{
    Task,
    exec::{FromRow, Row, StmtResult},
};

const ROWS: usize = 51;
const PAGES: usize = 20_000;
const ROUNDS: usize = 5;

/// A page of rows as SQLite hands them: 200-character descriptions, as in
/// the HTTP and stdio harnesses.
fn page() -> StmtResult {
    let columns: Arc<[String]> = Task::COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    let rows = (0..ROWS)
        .map(|i| {
            let values = json!([
                format!("0193a000-0000-7000-8000-{i:012}"),
                "0193a000-0000-7000-8000-000000000001",
                null,
                format!("Task {i}"),
                "d".repeat(200),
                "todo",
                i,
                null,
                null,
                null,
                "0193a000-0000-7000-8000-000000000002",
                "2026-12-01T00:00:00.000Z",
                "2026-12-01T00:00:00.000Z"
            ]);
            let Value::Array(values) = values else {
                unreachable!("a JSON array")
            };
            Row::new(Arc::clone(&columns), values)
        })
        .collect();
    StmtResult { rows, changes: 0 }
}

/// Mean microseconds per page of `decode` over `PAGES` pages made beforehand.
fn time(decode: impl Fn(StmtResult) -> usize) -> f64 {
    let pages: Vec<StmtResult> = (0..PAGES).map(|_| page()).collect();
    let started = Instant::now();
    let decoded: usize = pages.into_iter().map(decode).sum();
    let elapsed = started.elapsed();
    assert_eq!(decoded, PAGES * ROWS);
    elapsed.as_secs_f64() * 1e6 / PAGES as f64
}

fn main() {
    println!("| round | by serde (`into_all`) | by position (`into_rows`) | ratio |");
    println!("|---|--:|--:|--:|");
    for round in 1..=ROUNDS {
        let serde = time(|page| page.into_all::<Task>().expect("serde decode").len());
        let position = time(|page| page.into_rows::<Task>().expect("decode").len());
        println!(
            "| {round} | {serde:.1} µs | {position:.1} µs | {:.2}× |",
            serde / position
        );
    }
}
