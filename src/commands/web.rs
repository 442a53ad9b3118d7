//! `web`: the board (and MCP) on a loopback address, with a one-time
//! sign-in link printed (and opened with `--open`); `web login`: a new
//! link for the local owner, for a server that is already running.

use std::{future::Future, net::SocketAddr, path::Path};

use anyhow::bail;

use super::{ServeOptions, serve};
use crate::{config::StoreKind, web::write_login_link};

/// `web [ADDR]`: `serve --http ADDR` restricted to loopback, plus a
/// sign-in link on stderr (and in a browser with `open`).
pub async fn web(
    options: ServeOptions,
    open: bool,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let Some(http) = &options.http else {
        bail!("web needs an address");
    };
    let addr = http.options.addr;
    if !addr.ip().is_loopback() {
        bail!(
            "`web` serves on this machine only (a loopback address such as 127.0.0.1:8787), not {addr}; \
             use `serve --http {addr}` with API keys to serve others"
        );
    }
    let url = base_url(addr);
    if http.options.no_auth {
        eprintln!("web board: {url}/ (no sign-in: --no-auth)");
        if open {
            open_browser(&format!("{url}/"));
        }
    } else if options.store.kind() == StoreKind::Sqlite {
        let link = login_link(&options.data_dir, &url)?;
        eprintln!("web board: {url}/\nsign in (one use, 10 minutes): {link}");
        if open {
            open_browser(&link);
        }
    } else {
        eprintln!("web board: {url}/ (sign in with an API key)");
        if open {
            open_browser(&format!("{url}/"));
        }
    }
    serve(options, shutdown).await
}

/// `web login`: prints a one-time sign-in link for the local owner.
pub fn login(
    data_dir: &Path,
    store: StoreKind,
    url: &str,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    if store != StoreKind::Sqlite {
        bail!(
            "sign-in links are for the local owner of the local SQLite store; on D1, sign in with an API key (`keys create`)"
        );
    }
    writeln!(out, "{}", login_link(data_dir, url.trim_end_matches('/'))?)?;
    Ok(())
}

fn login_link(data_dir: &Path, url: &str) -> anyhow::Result<String> {
    let token = write_login_link(data_dir)?;
    Ok(format!("{url}/login?token={token}"))
}

fn base_url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// Opens `url` in the desktop's browser; a failure is only noted.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    match std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
    {
        Ok(_) => {}
        Err(error) => {
            eprintln!("could not open a browser ({opener}: {error}); open the link yourself")
        }
    }
}
