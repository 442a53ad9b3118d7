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
        if let Some(check) = &server.key_check {
            match check.check().await {
                Ok(()) => {}
                Err(AuthError::Store(error)) => {
                    let workspace = server.principal.as_ref().map(|p| &p.workspace_name[..]);
                    return Err(mcp_error::store_error(
                        workspace.unwrap_or_default(),
                        "the API key check",
                        &error,
                    ));
                }
                Err(_) => return Err(mcp_error::key_refused(check.key_id())),
            }
        }
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
