//! The `WWW-Authenticate` challenge of a refusal, as a typed value.

use std::fmt;

use axum::http::HeaderValue;

/// A `WWW-Authenticate: Bearer …` challenge (RFC 6750 §3) built from named
/// parameters. Each value is written as an RFC 9110 quoted-string, `"` and
/// `\` escaped, so a message can never break the header's syntax.
#[derive(Debug, Clone)]
pub struct Challenge {
    params: Vec<(&'static str, String)>,
}

impl Challenge {
    /// A bare `Bearer` challenge.
    pub fn bearer() -> Self {
        Challenge { params: Vec::new() }
    }

    /// Adds `name="value"`.
    pub fn param(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.params.push((name, value.into()));
        self
    }

    /// The header value. Characters a header cannot carry (controls,
    /// non-ASCII) become `?`.
    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.to_string()).unwrap_or(HeaderValue::from_static("Bearer"))
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer")?;
        for (i, (name, value)) in self.params.iter().enumerate() {
            let separator = if i == 0 { " " } else { ", " };
            write!(f, "{separator}{name}=\"")?;
            for c in value.chars() {
                match c {
                    '"' | '\\' => write!(f, "\\{c}")?,
                    ' '..='~' => write!(f, "{c}")?,
                    _ => f.write_str("?")?,
                }
            }
            f.write_str("\"")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parameters_are_quoted_and_escaped() {
        let challenge = Challenge::bearer()
            .param("error", "invalid_token")
            .param("error_description", "the \"token\" is C:\\bad\nreally");
        assert_eq!(
            challenge.to_string(),
            r#"Bearer error="invalid_token", error_description="the \"token\" is C:\\bad?really""#
        );
        assert_eq!(
            challenge.header_value(),
            HeaderValue::from_static(
                r#"Bearer error="invalid_token", error_description="the \"token\" is C:\\bad?really""#
            )
        );
        assert_eq!(Challenge::bearer().to_string(), "Bearer");
    }
}
