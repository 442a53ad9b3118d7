//! The web board's shared state: the tool layer, the sign-in sessions, the
//! live board pollers, and how a stream is tied to its key; and the
//! extractor that turns a request into its signed-in caller.

use std::{path::PathBuf, sync::Arc};

use axum::{body::Body, extract::FromRequestParts, http::request::Parts};

use super::{
    calls::Calls,
    error::WebError,
    faces::Faces,
    live::Live,
    notices::Notices,
    signin::{SignIn, Signed},
};
use crate::{
    auth::{Authenticator, Principal},
    server::KanbanServer,
    store::Store,
};

/// Ends an event stream's body when its principal's key is revoked or
/// expires.
pub type StreamGuard = Arc<dyn Fn(&Principal, Body) -> Body + Send + Sync>;

/// What the web board needs from the server it is part of.
pub struct WebOptions {
    pub store: Store,
    pub server: KanbanServer,
    pub authenticator: Arc<Authenticator>,
    /// `--no-auth`: every browser is the local owner without signing in.
    pub local_owner: Option<Principal>,
    /// Where `web login` leaves one-time sign-in links (the data
    /// directory); `None`: links are off.
    pub login_dir: Option<PathBuf>,
    /// Wraps an event stream's body so it ends when the principal's key is
    /// revoked or expires (the HTTP layer's revocation watcher).
    pub guard: StreamGuard,
    /// Where avatars are kept (the logs' object store), if anywhere.
    pub objects: Option<crate::logs::LogStore>,
}

/// The web board's shared state.
pub struct Web {
    pub(super) calls: Calls,
    pub(super) signin: SignIn,
    pub(super) live: Arc<Live>,
    pub(super) guard: StreamGuard,
    pub(super) faces: Faces,
    /// What the last session action said, for the page it returns to.
    pub(super) notices: Notices,
}

impl Web {
    pub fn new(options: WebOptions) -> Self {
        Web {
            calls: Calls {
                server: options.server,
            },
            signin: SignIn::new(
                options.store.clone(),
                options.authenticator,
                options.local_owner,
                options.login_dir,
            ),
            live: Arc::new(Live::new(options.store)),
            guard: options.guard,
            faces: Faces::new(options.objects),
            notices: Notices::default(),
        }
    }
}

impl FromRequestParts<Arc<Web>> for Signed {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, web: &Arc<Web>) -> Result<Self, WebError> {
        web.signin.caller(parts).await
    }
}
