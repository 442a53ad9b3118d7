//! Prompt enhancement costs, measured in-process on a real SQLite file:
//! the offline rewrite alone, a full `enhance` that misses the cache (one
//! read + one write batch), and one that hits it (one read).
//!
//! Run by hand (not in CI): `cargo bench --bench enhance`
//! Optional: `ENHANCE_BENCH_ITERATIONS=5000` (default 2000).

use std::time::{Duration, Instant};

use vibe_kanban_mcp::{
    enhance::{
        EnhanceInput, Enhancer,
        config::EnhanceSettings,
        offline,
        provider::{EnhanceRequest, Provider},
    },
    store::{NewProject, NewTask, Store, TaskStatus},
};

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    let total: Duration = samples.iter().sum();
    println!(
        "{name:<34} n={:<6} mean={:>8.1} µs  p50={:>8.1} µs  p99={:>8.1} µs",
        samples.len(),
        total.as_secs_f64() * 1e6 / samples.len() as f64,
        pick(0.5).as_secs_f64() * 1e6,
        pick(0.99).as_secs_f64() * 1e6,
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let iterations: usize = std::env::var("ENHANCE_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir()?;
    let store = Store::open_sqlite(&dir.path().join("kanban.db")).await?;
    let actor = store.ensure_local_owner().await?;
    let project = store
        .create_project(
            &actor,
            NewProject {
                name: "Billing".to_owned(),
                description: "Invoicing and payments service".to_owned(),
                repo_path: Some("/srv/billing".to_owned()),
                setup_script: None,
                cleanup_script: None,
                approvals: Default::default(),
            },
        )
        .await?;
    let task = store
        .create_task(
            &actor,
            NewTask {
                project_id: project.id.clone(),
                title: "Invoice PDF export times out for large accounts".to_owned(),
                description: "Exporting more than 2,000 invoices takes over 30 s. The PDF layout must stay as it is.\n\n\
                              Acceptance criteria:\n- An export of 10,000 invoices completes\n- Memory stays under 200 MB"
                    .to_owned(),
                status: TaskStatus::Todo,
                parent_task_id: None,
                assignee: None,
            },
        )
        .await?;
    let enhancer = Enhancer::new(EnhanceSettings::default())?;
    let rough = "pls add rate limiting to the login endpoint, max 5 attempts per minute per IP, \
                 don't lock the account itself. should return 429 with a Retry-After header.";

    // 1. The offline rewrite alone (no store).
    let request = EnhanceRequest {
        text: rough.to_owned(),
        ..EnhanceRequest::default()
    };
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        let done = offline::Offline.enhance(&request, offline::MODEL).await?;
        samples.push(started.elapsed());
        std::hint::black_box(done);
    }
    report("offline rewrite (no store)", samples);

    // 2. enhance_prompt that misses the cache: read, rewrite, write.
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let input = EnhanceInput {
            prompt: Some(format!("{rough} variant {i}")),
            task_id: Some(task.id.clone()),
            ..EnhanceInput::default()
        };
        let started = Instant::now();
        let done = enhancer.enhance(&store, &actor, input).await?;
        samples.push(started.elapsed());
        assert!(!done.cached);
    }
    report("enhance, cache miss (read+write)", samples);

    // 3. The same input again: one read, served from the cache.
    let input = EnhanceInput {
        prompt: Some(rough.to_owned()),
        task_id: Some(task.id.clone()),
        ..EnhanceInput::default()
    };
    enhancer.enhance(&store, &actor, input.clone()).await?;
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        let done = enhancer.enhance(&store, &actor, input.clone()).await?;
        samples.push(started.elapsed());
        assert!(done.cached);
    }
    report("enhance, cache hit (one read)", samples);
    Ok(())
}
