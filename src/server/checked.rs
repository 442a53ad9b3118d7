//! [`Checked`]: the handler behind the per-request checks that rmcp's
//! dispatch has no hook for, for transports that hand requests straight to
//! rmcp (stdio).

use rmcp::{
    ErrorData, RoleServer, ServerHandler, Service,
    model::{ClientNotification, ClientRequest, InitializeResult, ProtocolVersion, ServerResult},
    service::{NotificationContext, RequestContext},
};

use super::KanbanServer;
use crate::{auth::AuthError, mcp_error};

impl KanbanServer {
    /// This server behind the per-request checks of [`Checked`], for a
    /// transport that hands requests straight to rmcp (stdio).
    pub fn checked(self) -> Checked {
        Checked(self)
    }

    /// Checks the connection's API key again (at most one store lookup per
    /// half second, see [`crate::auth::KeyCheck`]): a revoked or expired key
    /// refuses the request. Nothing to check without a key (the local owner).
    pub async fn check_key(&self) -> Result<(), ErrorData> {
        let Some(check) = &self.key_check else {
            return Ok(());
        };
        match check.check().await {
            Ok(()) => Ok(()),
            Err(AuthError::Store(error)) => {
                let workspace = self.principal.as_ref().map(|p| &p.workspace_name[..]);
                Err(mcp_error::store_error(
                    workspace.unwrap_or_default(),
                    "the API key check",
                    &error,
                ))
            }
            Err(_) => Err(mcp_error::key_refused(check.key_id())),
        }
    }

    /// The connection's principal (stdio), if it has one.
    pub fn connection_principal(&self) -> Option<&crate::auth::Principal> {
        self.principal.as_ref()
    }
}

/// The handler behind the checks rmcp's dispatch has no hook for, for
/// transports that hand requests straight to rmcp (stdio). Before each
/// request the connection's API key is checked again, and a
/// `subscriptions/listen` that names a session log which is not the caller's
/// is refused before it is acknowledged, like `resources/subscribe`. Over
/// HTTP the auth middleware does both (rmcp's HTTP service takes only a
/// [`ServerHandler`]).
pub struct Checked(KanbanServer);

impl Checked {
    async fn admit(
        &self,
        request: &ClientRequest,
        context: &RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let server = &self.0;
        server.check_key().await?;
        if let ClientRequest::SubscriptionsListenRequest(listen) = request {
            let principal = server.principal(context)?;
            server
                .check_listen(&principal, &listen.params.notifications)
                .await?;
        }
        Ok(())
    }
}

impl Service<RoleServer> for Checked {
    async fn handle_request(
        &self,
        request: ClientRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        self.admit(&request, &context).await?;
        Service::handle_request(&self.0, request, context).await
    }

    async fn handle_notification(
        &self,
        notification: ClientNotification,
        context: NotificationContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Service::handle_notification(&self.0, notification, context).await
    }

    fn get_info(&self) -> InitializeResult {
        ServerHandler::get_info(&self.0)
    }

    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        ServerHandler::supported_protocol_versions(&self.0)
    }
}
