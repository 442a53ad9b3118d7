//! What a tool may use of the request that called it: its cancellation
//! (`notifications/cancelled`, or the client going away) and, when the
//! request carries `_meta.progressToken`, a way to send
//! `notifications/progress`. The transport that brought the request is not
//! known here.

use rmcp::{
    RoleServer,
    model::{ProgressNotificationParam, ProgressToken},
    service::{Peer, RequestContext},
};
use tokio_util::sync::CancellationToken;

/// The cancellation and progress channel of one tool call.
#[derive(Clone, Default)]
pub struct CallControl {
    /// Cancelled when the client cancels the request or leaves.
    pub cancel: CancellationToken,
    progress: Option<(Peer<RoleServer>, ProgressToken)>,
}

impl CallControl {
    pub fn of_request(context: &RequestContext<RoleServer>) -> Self {
        CallControl {
            cancel: context.ct.clone(),
            progress: context
                .meta
                .get_progress_token()
                .map(|token| (context.peer.clone(), token)),
        }
    }

    /// Whether the client asked for progress notifications.
    pub fn wants_progress(&self) -> bool {
        self.progress.is_some()
    }

    /// Sends a progress notification, if the client asked for them. A
    /// client that is gone is not an error: the call ends on its own.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: String) {
        let Some((peer, token)) = &self.progress else {
            return;
        };
        let mut param =
            ProgressNotificationParam::new(token.clone(), progress).with_message(message);
        if let Some(total) = total {
            param = param.with_total(total);
        }
        if let Err(error) = peer.notify_progress(param).await {
            tracing::debug!(%error, "could not send a progress notification");
        }
    }
}
