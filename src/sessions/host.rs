//! This machine as the session runtime sees it: its name (recorded on the
//! sessions its runner claims) and whether a process on it is still alive.

/// This machine's name, recorded on claimed sessions.
pub fn host_name() -> String {
    #[cfg(unix)]
    let name = nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok());
    #[cfg(not(unix))]
    let name = std::env::var("COMPUTERNAME").ok();
    name.filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Whether a process with this pid exists on this machine. Where that cannot
/// be asked cheaply (not Unix), every pid counts as alive, and a dead
/// runner's sessions are found by their stale heartbeat instead.
pub fn process_alive(pid: i64) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    #[cfg(unix)]
    {
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
            Ok(()) => true,
            Err(errno) => errno != nix::errno::Errno::ESRCH,
        }
    }
    #[cfg(not(unix))]
    true
}
