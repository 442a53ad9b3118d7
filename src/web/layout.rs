//! The frame every page of the board is drawn in, and the sign-in form.

use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::{assets, signin::Signed};

/// The page frame: header with the workspace and sign-out.
fn layout(title: &str, signed: Option<&Signed>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · vibe-kanban" }
                link rel="stylesheet" href=(assets::CSS_URL.as_str());
                script src=(assets::JS_URL.as_str()) defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    a class="brand" href="/" { "vibe-kanban" }
                    @if let Some(signed) = signed {
                        span class="who" {
                            (signed.principal.workspace_name)
                            " · "
                            span class="scopes" { (signed.principal.scopes.to_string()) }
                        }
                        a class="account-link" href="/account" { "Account" }
                        form method="post" action="/signout" class="signout" {
                            input type="hidden" name="_csrf" value=(signed.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
}

pub fn page(title: &str, signed: &Signed, body: Markup) -> Response {
    Html(layout(title, Some(signed), body).into_string()).into_response()
}

/// The sign-in form, with an error when the last try was refused.
pub fn sign_in_page(error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            div class="narrow" {
                h1 { "Sign in" }
                p { "Paste an API key (" code { "vibe-kanban-mcp keys create" } ") or a member's JWT. It stays on the server; your browser keeps only a session cookie." }
                @if let Some(error) = error {
                    p class="error" role="alert" { (error) }
                }
                form method="post" action="/signin" class="stack" {
                    label for="token" { "API key or JWT" }
                    input id="token" name="token" type="password" autocomplete="off" required;
                    button type="submit" { "Sign in" }
                }
                p class="muted" { "On this machine, " code { "vibe-kanban-mcp web login" } " prints a one-time sign-in link." }
            }
        },
    )
}
