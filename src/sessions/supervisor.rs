//! Supervised child processes: each runs in its own process group, its
//! output is forwarded line by line, and stopping it escalates SIGINT →
//! (grace) → SIGTERM → (grace) → SIGKILL on the whole group, so helpers an
//! agent started stop with it.

use std::{collections::BTreeMap, path::PathBuf, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    process::{Child, Command},
    sync::mpsc,
};
use tokio_util::sync::CancellationToken;

/// Longest piece of a line forwarded at once; longer lines are split.
const MAX_LINE: usize = 16 * 1024;
/// How long output may keep flowing after the process itself exited
/// (grandchildren holding the pipes), before the group is killed.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Which pipe a piece of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// A piece of output (a line, with its newline) from a supervised process.
#[derive(Debug)]
pub struct Output {
    pub stream: Stream,
    pub bytes: Vec<u8>,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    pub program: String,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
    pub stdin: Option<String>,
    pub timeout: Option<Duration>,
    /// Wait between SIGINT and SIGTERM, and between SIGTERM and SIGKILL.
    pub grace: Duration,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Exited by itself with this code.
    Exited(i32),
    /// Ended by a signal nobody here sent.
    Signaled(i32),
    /// Could not be started at all.
    SpawnFailed(String),
    /// Stopped on request: which signal of the escalation ended it.
    Stopped(Stop),
    /// Ran longer than its timeout and was stopped.
    TimedOut(Duration),
}

/// How a stop request ended a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stop {
    /// The last signal sent before it ended: SIGINT when it obeyed the
    /// first, SIGKILL when it ignored SIGINT and SIGTERM.
    pub signal: Signal,
    /// The exit code, when it exited by itself once asked.
    pub code: Option<i32>,
}

/// Runs `spec` to its end, sending output to `output`. `stop` cancels it
/// (with signal escalation). `on_start` gets the pid once it runs.
pub async fn run(
    spec: Spec,
    output: mpsc::Sender<Output>,
    stop: CancellationToken,
    on_start: impl FnOnce(u32),
) -> Ending {
    let mut child = match command(&spec).spawn() {
        Ok(child) => child,
        Err(e) => return Ending::SpawnFailed(spawn_error(&spec, &e)),
    };
    let pid = child.id().unwrap_or(0);
    on_start(pid);
    if let (Some(text), Some(mut stdin)) = (spec.stdin.clone(), child.stdin.take()) {
        // Written from its own task so a child that never reads cannot block us.
        tokio::spawn(async move {
            let _ = stdin.write_all(text.as_bytes()).await;
            let _ = stdin.shutdown().await;
        });
    }
    let mut readers = tokio::task::JoinSet::new();
    if let Some(stdout) = child.stdout.take() {
        readers.spawn(forward(stdout, Stream::Stdout, output.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        readers.spawn(forward(stderr, Stream::Stderr, output));
    }
    let ending = supervise(&mut child, pid, &spec, &stop).await;
    drain(readers, pid).await;
    ending
}

/// The command for `spec`: piped output, stdin only when there is text for
/// it, in its own process group that dies with us.
fn command(spec: &Spec) -> Command {
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .envs(&spec.env)
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false);
    #[cfg(unix)]
    {
        // Its own process group: signals reach the agent and its helpers,
        // and a Ctrl-C in the server's terminal does not.
        command.process_group(0);
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            // If the runner dies without stopping it, the kernel kills the
            // agent instead of leaving it unsupervised.
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                    .map_err(std::io::Error::from)
            });
        }
    }
    command
}

/// Lets the readers finish the output; helpers that keep the pipes open
/// past a grace period are killed with the group.
async fn drain(mut readers: tokio::task::JoinSet<()>, pid: u32) {
    if tokio::time::timeout(DRAIN_GRACE, async {
        while readers.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        signal_group(pid, Signal::Kill);
        readers.shutdown().await;
    }
}

async fn supervise(child: &mut Child, pid: u32, spec: &Spec, stop: &CancellationToken) -> Ending {
    let timeout = async {
        match spec.timeout {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    let timed_out = tokio::select! {
        status = child.wait() => return ending_of(status),
        () = stop.cancelled() => false,
        () = timeout => true,
    };
    let stop = escalate(child, pid, spec.grace).await;
    if timed_out {
        Ending::TimedOut(spec.timeout.unwrap_or_default())
    } else {
        Ending::Stopped(stop)
    }
}

/// SIGINT, then SIGTERM, then SIGKILL to the group, waiting `grace` between.
/// Says which signal it took, and the exit code when the process exited by
/// itself on one.
async fn escalate(child: &mut Child, pid: u32, grace: Duration) -> Stop {
    for signal in [Signal::Interrupt, Signal::Terminate] {
        signal_group(pid, signal);
        if let Ok(status) = tokio::time::timeout(grace, child.wait()).await {
            let code = status.ok().and_then(|s| s.code());
            return Stop { signal, code };
        }
    }
    signal_group(pid, Signal::Kill);
    let _ = child.kill().await;
    let code = child.wait().await.ok().and_then(|s| s.code());
    Stop {
        signal: Signal::Kill,
        code,
    }
}

/// The signals of the stop escalation, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
    Kill,
}

fn signal_group(pid: u32, signal: Signal) {
    #[cfg(unix)]
    {
        use nix::sys::signal::{Signal as S, killpg};
        let Ok(pgid) = i32::try_from(pid) else { return };
        if pgid <= 0 {
            return;
        }
        let signal = match signal {
            Signal::Interrupt => S::SIGINT,
            Signal::Terminate => S::SIGTERM,
            Signal::Kill => S::SIGKILL,
        };
        // ESRCH (the group is gone) is what we want anyway.
        let _ = killpg(nix::unistd::Pid::from_raw(pgid), signal);
    }
    #[cfg(not(unix))]
    let _ = (pid, signal);
}

fn ending_of(status: std::io::Result<std::process::ExitStatus>) -> Ending {
    match status {
        Ok(status) => match status.code() {
            Some(code) => Ending::Exited(code),
            None => {
                #[cfg(unix)]
                {
                    use std::os::unix::process::ExitStatusExt;
                    Ending::Signaled(status.signal().unwrap_or(0))
                }
                #[cfg(not(unix))]
                Ending::Signaled(0)
            }
        },
        Err(e) => Ending::SpawnFailed(format!("lost track of the process: {e}")),
    }
}

fn spawn_error(spec: &Spec, error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound if !spec.cwd.is_dir() => format!(
            "cannot start `{}`: its working directory {} does not exist",
            spec.program,
            spec.cwd.display()
        ),
        std::io::ErrorKind::NotFound => format!(
            "cannot start `{}`: the executable was not found on PATH; install it or change the executor's \
             `command` in the configuration file",
            spec.program
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "cannot start `{}`: permission denied (is it executable?)",
            spec.program
        ),
        _ => format!("cannot start `{}`: {error}", spec.program),
    }
}

/// Forwards a pipe line by line (lines longer than [`MAX_LINE`] in pieces).
async fn forward(mut pipe: impl AsyncRead + Unpin, stream: Stream, out: mpsc::Sender<Output>) {
    let mut buf = vec![0u8; 8192];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let read = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..read]);
        while let Some(end) = pending
            .iter()
            .position(|b| *b == b'\n')
            .map(|i| i + 1)
            .or_else(|| (pending.len() >= MAX_LINE).then_some(MAX_LINE))
        {
            let rest = pending.split_off(end);
            let line = std::mem::replace(&mut pending, rest);
            if out
                .send(Output {
                    stream,
                    bytes: line,
                })
                .await
                .is_err()
            {
                return;
            }
        }
    }
    if !pending.is_empty() {
        pending.push(b'\n');
        let _ = out
            .send(Output {
                stream,
                bytes: pending,
            })
            .await;
    }
}
