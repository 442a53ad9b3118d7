//! Counters and latency histograms, rendered in the Prometheus text format at
//! `/metrics`. Small on purpose: a few labelled series behind one mutex each,
//! updated once per request or tool call.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

/// Upper bounds (seconds) of the latency buckets.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

type Labels = Vec<(&'static str, String)>;

/// Process-wide metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    http_requests: Mutex<BTreeMap<Labels, u64>>,
    http_latency: Mutex<BTreeMap<Labels, Histogram>>,
    /// By (tool, outcome): both `'static`, so a call allocates no key.
    tool_calls: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    tool_latency: Mutex<BTreeMap<&'static str, Histogram>>,
    rate_limited: Mutex<BTreeMap<Labels, u64>>,
    sse_sessions: Mutex<i64>,
    /// Stateless `tools/call`s the HTTP edge answered itself.
    direct_calls: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Metrics {
    /// One HTTP request answered.
    pub fn http_request(&self, endpoint: &str, method: &str, status: u16, elapsed: Duration) {
        let labels = vec![
            ("endpoint", endpoint.to_owned()),
            ("method", method.to_owned()),
            ("status", status.to_string()),
        ];
        *lock(&self.http_requests).entry(labels).or_default() += 1;
        lock(&self.http_latency)
            .entry(vec![("endpoint", endpoint.to_owned())])
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// One stateless `tools/call` answered by the HTTP edge, not by rmcp.
    pub fn direct_call(&self) {
        self.direct_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// One tool call finished with `outcome` (ok, tool_error, invalid).
    pub fn tool_call(&self, tool: &'static str, outcome: &'static str, elapsed: Duration) {
        *lock(&self.tool_calls).entry((tool, outcome)).or_default() += 1;
        lock(&self.tool_latency)
            .entry(tool)
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// One call refused by the rate limiter.
    pub fn rate_limited(&self, tool: &str) {
        *lock(&self.rate_limited)
            .entry(vec![("tool", tool.to_owned())])
            .or_default() += 1;
    }

    pub fn sse_session_opened(&self) {
        *lock(&self.sse_sessions) += 1;
    }

    pub fn sse_session_closed(&self) {
        *lock(&self.sse_sessions) -= 1;
    }

    /// Everything, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        counter(
            &mut out,
            "vk_http_requests_total",
            "HTTP requests answered.",
            &lock(&self.http_requests),
        );
        histogram(
            &mut out,
            "vk_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            &lock(&self.http_latency),
        );
        counter(
            &mut out,
            "vk_tool_calls_total",
            "Tool calls by tool and outcome.",
            &lock(&self.tool_calls)
                .iter()
                .map(|((tool, outcome), n)| {
                    (
                        vec![
                            ("tool", (*tool).to_owned()),
                            ("outcome", (*outcome).to_owned()),
                        ],
                        *n,
                    )
                })
                .collect(),
        );
        histogram(
            &mut out,
            "vk_tool_call_duration_seconds",
            "Time to run a tool call.",
            &lock(&self.tool_latency)
                .iter()
                .map(|(tool, h)| (vec![("tool", (*tool).to_owned())], h.clone()))
                .collect(),
        );
        counter(
            &mut out,
            "vk_rate_limited_total",
            "Tool calls refused by the rate limiter.",
            &lock(&self.rate_limited),
        );
        let _ = writeln!(
            out,
            "# HELP vk_http_direct_calls_total Stateless tools/call requests answered without rmcp's per-request service.\n# TYPE vk_http_direct_calls_total counter\nvk_http_direct_calls_total {}",
            self.direct_calls.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP vk_sse_sessions Open legacy SSE sessions.");
        let _ = writeln!(out, "# TYPE vk_sse_sessions gauge");
        let _ = writeln!(out, "vk_sse_sessions {}", *lock(&self.sse_sessions));
        out
    }
}

fn label_text(labels: &Labels, extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn counter(out: &mut String, name: &str, help: &str, series: &BTreeMap<Labels, u64>) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    for (labels, value) in series {
        let _ = writeln!(out, "{name}{} {value}", label_text(labels, None));
    }
}

fn histogram(out: &mut String, name: &str, help: &str, series: &BTreeMap<Labels, Histogram>) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (labels, h) in series {
        for (bound, count) in BUCKETS.iter().zip(h.counts.iter()) {
            let _ = writeln!(
                out,
                "{name}_bucket{} {count}",
                label_text(labels, Some(("le", bound.to_string())))
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{} {}",
            label_text(labels, Some(("le", "+Inf".to_owned()))),
            h.count
        );
        let _ = writeln!(out, "{name}_sum{} {}", label_text(labels, None), h.sum);
        let _ = writeln!(out, "{name}_count{} {}", label_text(labels, None), h.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::default();
        metrics.tool_call("list_tasks", "ok", Duration::from_micros(300));
        metrics.tool_call("list_tasks", "ok", Duration::from_millis(20));
        metrics.rate_limited("create_task");
        metrics.http_request("/mcp", "POST", 200, Duration::from_millis(1));
        let text = metrics.render();
        assert!(
            text.contains("vk_tool_calls_total{tool=\"list_tasks\",outcome=\"ok\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "vk_tool_call_duration_seconds_bucket{tool=\"list_tasks\",le=\"0.0005\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "vk_tool_call_duration_seconds_bucket{tool=\"list_tasks\",le=\"+Inf\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("vk_rate_limited_total{tool=\"create_task\"} 1"));
        assert!(text.contains(
            "vk_http_requests_total{endpoint=\"/mcp\",method=\"POST\",status=\"200\"} 1"
        ));
    }
}
