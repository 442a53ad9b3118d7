//! MCP over stdin/stdout, for local agents. stdout carries protocol messages
//! only; every log line goes to stderr.

use rmcp::ServiceExt;

use crate::server::KanbanServer;

/// Serves `server` on stdin/stdout until the client closes stdin or the
/// process gets SIGINT/SIGTERM. Each store write is committed before its
/// reply is sent, so stopping between calls loses nothing acknowledged.
pub async fn serve(server: KanbanServer) -> anyhow::Result<()> {
    let running = server.checked().serve(rmcp::transport::stdio()).await?;
    tokio::select! {
        quit = running.waiting() => {
            quit?;
            tracing::info!("client closed the connection");
        }
        () = shutdown_signal() => {
            tracing::info!("shutting down on signal");
        }
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
