//! A small S3 client for the calls the R2 log backend makes: HEAD, GET of a
//! byte range, PUT, ListObjectsV2, DELETE and multipart uploads, path-style
//! (`{endpoint}/{bucket}/{key}`). Requests are signed with AWS Signature V4
//! (HMAC-SHA256 and SHA-256 from ring, the crate TLS already links) and sent
//! with reqwest over HTTP/1.1. The few XML replies S3 sends are read with a
//! tag scanner: their elements are flat and known.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use reqwest::{Method, StatusCode, Url, header};
use ring::{digest, hmac};

/// Attempts per request when the store or the network fails in passing
/// (connection errors, 429 and 5xx replies).
const ATTEMPTS: u32 = 3;

/// Where the bucket is and who signs.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// `https://<account_id>.r2.cloudflarestorage.com`, or any S3 endpoint
    /// (a path is kept: the bucket goes after it).
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// How an S3 call failed. Each names the operation and the object
/// (`object` is "{key} in bucket {bucket}").
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("{object} does not exist")]
    NotFound { object: String },
    #[error("{op} {object} was refused: HTTP {status} {code}: {message}{}", credentials_hint(*.status))]
    Refused {
        op: &'static str,
        object: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("{op} {object}: {message}")]
    Transport {
        op: &'static str,
        object: String,
        message: String,
    },
    #[error("{0}")]
    Config(String),
}

fn credentials_hint(status: u16) -> &'static str {
    if matches!(status, 401 | 403) {
        " (check access_key_id and secret_access_key in [logs.r2], or VK_R2_ACCESS_KEY_ID and \
         VK_R2_SECRET_ACCESS_KEY)"
    } else {
        ""
    }
}

impl S3Error {
    /// A failure that may pass when the request is sent again.
    fn is_passing(&self) -> bool {
        match self {
            S3Error::Transport { .. } => true,
            S3Error::Refused { status, .. } => *status == 429 || *status >= 500,
            S3Error::NotFound { .. } | S3Error::Config(_) => false,
        }
    }
}

/// An object a listing returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
}

/// One signed request, before it is sent.
struct Call<'a> {
    op: &'static str,
    method: Method,
    /// The object's key; empty for the bucket itself (listing).
    key: &'a str,
    query: Vec<(&'a str, String)>,
    range: Option<String>,
    body: Bytes,
}

#[derive(Clone)]
pub struct S3Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// `scheme://host[:port]`.
    origin: String,
    /// The `Host` header as the request sends it (and the signature covers).
    host: String,
    /// The endpoint's path and the bucket: `/{path}/{bucket}`, URI-encoded.
    bucket_path: String,
    settings: S3Settings,
}

impl S3Client {
    pub fn new(settings: S3Settings) -> Result<Self, S3Error> {
        let endpoint = settings.endpoint.trim_end_matches('/');
        let url = Url::parse(endpoint).map_err(|e| {
            S3Error::Config(format!(
                "endpoint {endpoint:?} is not a URL ({e}); write e.g. https://<account_id>.r2.cloudflarestorage.com"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
            return Err(S3Error::Config(format!(
                "endpoint {endpoint:?} must be an http:// or https:// URL without a query"
            )));
        }
        let Some(host_name) = url.host_str() else {
            return Err(S3Error::Config(format!(
                "endpoint {endpoint:?} has no host"
            )));
        };
        let host = match url.port() {
            Some(port) => format!("{host_name}:{port}"),
            None => host_name.to_owned(),
        };
        if settings.bucket.is_empty() {
            return Err(S3Error::Config("bucket is empty".to_owned()));
        }
        let bucket_path = format!(
            "{}/{}",
            url.path().trim_end_matches('/'),
            uri_encode(&settings.bucket, false)
        );
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("vibe-kanban-mcp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| S3Error::Config(format!("cannot set up the HTTP client: {e}")))?;
        Ok(S3Client {
            inner: Arc::new(Inner {
                http,
                origin: format!("{}://{host}", url.scheme()),
                host,
                bucket_path,
                settings,
            }),
        })
    }

    /// The size of `key`, or `None` when there is no such object.
    pub async fn head(&self, key: &str) -> Result<Option<u64>, S3Error> {
        match self.send(Call::new("HEAD", Method::HEAD, key)).await {
            // The header itself: reqwest's content_length() is the body's
            // size, which a HEAD reply has none of.
            Ok(reply) => reply
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .map(Some)
                .ok_or_else(|| self.bad_reply("HEAD", key, "no Content-Length")),
            Err(S3Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Bytes `[start, end)` of `key`.
    pub async fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Bytes, S3Error> {
        if start >= end {
            return Ok(Bytes::new());
        }
        let mut call = Call::new("GET", Method::GET, key);
        call.range = Some(format!("bytes={start}-{}", end - 1));
        let reply = self.send(call).await?;
        let bytes = reply
            .bytes()
            .await
            .map_err(|e| self.transport("GET", key, &e))?;
        if bytes.len() as u64 != end - start {
            return Err(S3Error::Transport {
                op: "GET",
                object: self.object(key),
                message: format!(
                    "asked for bytes {start}..{end} and got {} bytes",
                    bytes.len()
                ),
            });
        }
        Ok(bytes)
    }

    /// The whole object `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes, S3Error> {
        let reply = self.send(Call::new("GET", Method::GET, key)).await?;
        reply
            .bytes()
            .await
            .map_err(|e| self.transport("GET", key, &e))
    }

    pub async fn put(&self, key: &str, body: Bytes) -> Result<(), S3Error> {
        let mut call = Call::new("PUT", Method::PUT, key);
        call.body = body;
        self.send(call).await.map(drop)
    }

    /// Deletes `key`; an object that is already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), S3Error> {
        match self.send(Call::new("DELETE", Method::DELETE, key)).await {
            Ok(_) | Err(S3Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every object whose key starts with `prefix`, page after page.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, S3Error> {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut call = Call::new("LIST", Method::GET, "");
            call.query = vec![("list-type", "2".to_owned()), ("prefix", prefix.to_owned())];
            if let Some(token) = token.take() {
                call.query.push(("continuation-token", token));
            }
            let xml = self.send_for_text(call, prefix).await?;
            for entry in elements(&xml, "Contents") {
                let key = element(entry, "Key").map(unescape);
                let size = element(entry, "Size").and_then(|s| s.trim().parse().ok());
                match (key, size) {
                    (Some(key), Some(size)) => objects.push(ObjectInfo { key, size }),
                    _ => {
                        return Err(self.bad_reply("LIST", prefix, "an entry without Key or Size"));
                    }
                }
            }
            let truncated = element(&xml, "IsTruncated").is_some_and(|t| t.trim() == "true");
            match element(&xml, "NextContinuationToken").map(unescape) {
                Some(next) if truncated && !next.is_empty() => token = Some(next),
                _ if truncated => {
                    return Err(self.bad_reply(
                        "LIST",
                        prefix,
                        "a truncated listing without NextContinuationToken",
                    ));
                }
                _ => return Ok(objects),
            }
        }
    }

    /// Starts a multipart upload of `key`; parts are then sent in order.
    pub async fn create_multipart(&self, key: &str) -> Result<Multipart, S3Error> {
        let mut call = Call::new("CreateMultipartUpload", Method::POST, key);
        call.query = vec![("uploads", String::new())];
        let xml = self.send_for_text(call, key).await?;
        let Some(upload_id) = element(&xml, "UploadId").map(unescape) else {
            return Err(self.bad_reply("CreateMultipartUpload", key, "no UploadId"));
        };
        Ok(Multipart {
            client: self.clone(),
            key: key.to_owned(),
            upload_id,
            etags: Vec::new(),
        })
    }

    async fn send_for_text(&self, call: Call<'_>, key: &str) -> Result<String, S3Error> {
        let op = call.op;
        let reply = self.send(call).await?;
        let text = reply
            .text()
            .await
            .map_err(|e| self.transport(op, key, &e))?;
        // CompleteMultipartUpload can fail after its 200 status line.
        if text.contains("<Error>") {
            return Err(self.refused(op, key, 200, &text));
        }
        Ok(text)
    }

    async fn send(&self, call: Call<'_>) -> Result<reqwest::Response, S3Error> {
        let mut attempt = 1;
        loop {
            match self.send_once(&call).await {
                Err(e) if e.is_passing() && attempt < ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, "S3 request failed; sending it again");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn send_once(&self, call: &Call<'_>) -> Result<reqwest::Response, S3Error> {
        let inner = &self.inner;
        let path = if call.key.is_empty() {
            inner.bucket_path.clone()
        } else {
            format!("{}/{}", inner.bucket_path, uri_encode(call.key, true))
        };
        let query = canonical_query(&call.query);
        let payload_hash = hex(digest::digest(&digest::SHA256, &call.body).as_ref());
        let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let mut signed: Vec<(&str, &str)> = vec![
            ("host", &inner.host),
            ("x-amz-content-sha256", &payload_hash),
            ("x-amz-date", &amz_date),
        ];
        if let Some(range) = &call.range {
            signed.push(("range", range));
        }
        signed.sort_unstable();
        let authorization = sign(
            &Signer {
                access_key_id: &inner.settings.access_key_id,
                secret_access_key: &inner.settings.secret_access_key,
                region: &inner.settings.region,
            },
            call.method.as_str(),
            &path,
            &query,
            &signed,
            &payload_hash,
            &amz_date,
        );
        let url = if query.is_empty() {
            format!("{}{path}", inner.origin)
        } else {
            format!("{}{path}?{query}", inner.origin)
        };
        let mut request = inner
            .http
            .request(call.method.clone(), url)
            .header(header::AUTHORIZATION, authorization)
            .header("x-amz-content-sha256", &payload_hash)
            .header("x-amz-date", &amz_date);
        if let Some(range) = &call.range {
            request = request.header(header::RANGE, range);
        }
        if call.method == Method::PUT || call.method == Method::POST {
            request = request.body(call.body.clone());
        }
        let reply = request
            .send()
            .await
            .map_err(|e| self.transport(call.op, call.key, &e))?;
        let status = reply.status();
        if status.is_success() {
            return Ok(reply);
        }
        if status == StatusCode::NOT_FOUND && !call.key.is_empty() {
            // NoSuchUpload is a 404 too, but about the upload, not the object.
            let text = reply.text().await.unwrap_or_default();
            if element(&text, "Code").is_none_or(|code| code == "NoSuchKey") {
                return Err(S3Error::NotFound {
                    object: self.object(call.key),
                });
            }
            return Err(self.refused(call.op, call.key, status.as_u16(), &text));
        }
        let text = reply.text().await.unwrap_or_default();
        Err(self.refused(call.op, call.key, status.as_u16(), &text))
    }

    fn refused(&self, op: &'static str, key: &str, status: u16, xml: &str) -> S3Error {
        let code = element(xml, "Code").map_or_else(|| "(no code)".to_owned(), unescape);
        let message = element(xml, "Message").map_or_else(String::new, unescape);
        S3Error::Refused {
            op,
            object: self.object(key),
            status,
            code,
            message,
        }
    }

    /// "{key} in bucket {bucket}"; for a listing, the key is its prefix.
    fn object(&self, key: &str) -> String {
        format!("{key} in bucket {}", self.inner.settings.bucket)
    }

    fn transport(&self, op: &'static str, key: &str, error: &reqwest::Error) -> S3Error {
        // reqwest's own text is terse; the causes say what happened.
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        S3Error::Transport {
            op,
            object: self.object(key),
            message,
        }
    }

    fn bad_reply(&self, op: &'static str, key: &str, what: &str) -> S3Error {
        S3Error::Transport {
            op,
            object: self.object(key),
            message: format!("the store's reply has {what}"),
        }
    }
}

impl<'a> Call<'a> {
    fn new(op: &'static str, method: Method, key: &'a str) -> Self {
        Call {
            op,
            method,
            key,
            query: Vec::new(),
            range: None,
            body: Bytes::new(),
        }
    }
}

/// A multipart upload under way: parts are numbered in the order they are
/// sent. Dropping it without [`Multipart::complete`] leaves the upload for
/// the bucket's lifecycle rules; [`Multipart::abort`] removes it.
pub struct Multipart {
    client: S3Client,
    key: String,
    upload_id: String,
    etags: Vec<String>,
}

impl Multipart {
    /// Sends the next part. Every part but the last must be at least 5 MiB.
    pub async fn put_part(&mut self, body: Bytes) -> Result<(), S3Error> {
        let number = self.etags.len() + 1;
        let mut call = Call::new("UploadPart", Method::PUT, &self.key);
        call.query = vec![
            ("partNumber", number.to_string()),
            ("uploadId", self.upload_id.clone()),
        ];
        call.body = body;
        let reply = self.client.send(call).await?;
        let Some(etag) = reply
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
        else {
            return Err(self
                .client
                .bad_reply("UploadPart", &self.key, "no ETag header"));
        };
        self.etags.push(etag.to_owned());
        Ok(())
    }

    /// Makes the object of the parts sent.
    pub async fn complete(self) -> Result<(), S3Error> {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (i, etag) in self.etags.iter().enumerate() {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                i + 1,
                escape(etag)
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let mut call = Call::new("CompleteMultipartUpload", Method::POST, &self.key);
        call.query = vec![("uploadId", self.upload_id.clone())];
        call.body = Bytes::from(xml);
        self.client.send_for_text(call, &self.key).await.map(drop)
    }

    /// Drops the upload and the parts sent.
    pub async fn abort(self) -> Result<(), S3Error> {
        let mut call = Call::new("AbortMultipartUpload", Method::DELETE, &self.key);
        call.query = vec![("uploadId", self.upload_id.clone())];
        self.client.send(call).await.map(drop)
    }
}

/// Who signs, and for which region.
struct Signer<'a> {
    access_key_id: &'a str,
    secret_access_key: &'a str,
    region: &'a str,
}

/// The `Authorization` header of AWS Signature V4 for S3. `headers` are the
/// signed headers, lower-case and sorted by name; `path` and `query` are
/// already in canonical (URI-encoded) form.
fn sign(
    signer: &Signer<'_>,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    payload_hash: &str,
    amz_date: &str,
) -> String {
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let mut canonical_headers = String::new();
    for (name, value) in headers {
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(value.trim());
        canonical_headers.push('\n');
    }
    let signed_headers = headers
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request =
        format!("{method}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}");
    let scope = format!("{date}/{}/s3/aws4_request", signer.region);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref())
    );
    let mac = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    };
    let k_date = mac(format!("AWS4{}", signer.secret_access_key).as_bytes(), date);
    let k_region = mac(k_date.as_ref(), signer.region);
    let k_service = mac(k_region.as_ref(), "s3");
    let k_signing = mac(k_service.as_ref(), "aws4_request");
    let signature = hex(mac(k_signing.as_ref(), &string_to_sign).as_ref());
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        signer.access_key_id
    )
}

/// The query string in SigV4's canonical form (pairs encoded, then sorted),
/// which is also what the request sends.
fn canonical_query(pairs: &[(&str, String)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(name, value)| (uri_encode(name, false), uri_encode(value, false)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes all but `A-Z a-z 0-9 - _ . ~` (and `/` in a path).
fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Lower-case hex digits of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

/// The text inside each `<tag>…</tag>` of `xml`, in order (not nested).
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        found.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    found
}

fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    elements(xml, tag).into_iter().next()
}

/// XML text with its five named entities and numeric references resolved.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let entity = after
            .find(';')
            .map(|end| (&after[..end], &after[end + 1..]));
        let resolved = entity.and_then(|(name, tail)| {
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => name
                    .strip_prefix("#x")
                    .map(|hex| u32::from_str_radix(hex, 16))
                    .or_else(|| name.strip_prefix('#').map(str::parse))
                    .and_then(Result::ok)
                    .and_then(char::from_u32),
            }?;
            Some((c, tail))
        });
        match resolved {
            Some((c, tail)) => {
                out.push(c);
                rest = tail;
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GET example of AWS's "Signature Calculations for the
    /// Authorization Header" for S3 (a range request for test.txt).
    #[test]
    fn signs_the_aws_documented_example() {
        let signer = Signer {
            access_key_id: "AKIAIOSFODNN7EXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            region: "us-east-1",
        };
        let empty = hex(digest::digest(&digest::SHA256, b"").as_ref());
        assert_eq!(
            empty,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let authorization = sign(
            &signer,
            "GET",
            "/test.txt",
            "",
            &[
                ("host", "examplebucket.s3.amazonaws.com"),
                ("range", "bytes=0-9"),
                ("x-amz-content-sha256", &empty),
                ("x-amz-date", "20130524T000000Z"),
            ],
            &empty,
            "20130524T000000Z",
        );
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    /// A store that answers each connection with the next of `replies`
    /// (raw HTTP/1.1) and counts the requests it read.
    async fn replying(
        replies: Vec<&'static str>,
    ) -> (S3Client, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            for reply in replies {
                let (mut socket, _) = listener.accept().await.expect("accept");
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = socket.read(&mut buf).await.expect("read");
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                socket.write_all(reply.as_bytes()).await.expect("write");
                socket.shutdown().await.expect("shutdown");
            }
        });
        let client = S3Client::new(S3Settings {
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket: "logs".to_owned(),
            region: "auto".to_owned(),
            access_key_id: "id".to_owned(),
            secret_access_key: "secret".to_owned(),
        })
        .expect("client");
        (client, seen)
    }

    #[tokio::test]
    async fn a_passing_failure_is_sent_again_and_a_refusal_is_not() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (client, seen) = replying(vec![
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
        ])
        .await;
        assert_eq!(client.head("logs/a").await.expect("head"), Some(5));
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 2);

        let body = "<Error><Code>AccessDenied</Code><Message>no</Message></Error>";
        let reply: &'static str = Box::leak(
            format!(
                "HTTP/1.1 403 Forbidden\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        );
        let (client, seen) = replying(vec![reply, reply]).await;
        let error = client
            .put("logs/a", Bytes::from_static(b"x"))
            .await
            .expect_err("refused");
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
        let text = error.to_string();
        assert!(text.contains("PUT logs/a in bucket logs"), "{text}");
        assert!(text.contains("403 AccessDenied: no"), "{text}");
        assert!(text.contains("secret_access_key"), "{text}");
    }

    #[test]
    fn queries_and_paths_are_encoded_the_sigv4_way() {
        assert_eq!(
            canonical_query(&[
                ("prefix", "logs/a b&c".to_owned()),
                ("list-type", "2".to_owned()),
                ("uploads", String::new()),
            ]),
            "list-type=2&prefix=logs%2Fa%20b%26c&uploads="
        );
        assert_eq!(uri_encode("logs/x y/é~", true), "logs/x%20y/%C3%A9~");
    }

    #[test]
    fn reads_a_listing() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>2</KeyCount>
<IsTruncated>true</IsTruncated><Contents><Key>logs/a&amp;b</Key><Size>12</Size></Contents>
<Contents><Key>logs/&#x63;</Key><ETag>&quot;x&quot;</ETag><Size>0</Size></Contents>
<NextContinuationToken>t&lt;1</NextContinuationToken></ListBucketResult>"#;
        let entries = elements(xml, "Contents");
        assert_eq!(entries.len(), 2);
        assert_eq!(
            element(entries[0], "Key").map(unescape).as_deref(),
            Some("logs/a&b")
        );
        assert_eq!(
            element(entries[1], "Key").map(unescape).as_deref(),
            Some("logs/c")
        );
        assert_eq!(element(entries[1], "Size"), Some("0"));
        assert_eq!(element(xml, "KeyCount"), Some("2"));
        assert_eq!(
            element(xml, "Key"),
            Some("logs/a&amp;b"),
            "<KeyCount> is not <Key>"
        );
        assert_eq!(
            element(xml, "NextContinuationToken")
                .map(unescape)
                .as_deref(),
            Some("t<1")
        );
        assert_eq!(unescape("a &unknown; &#38; &"), "a &unknown; & &");
    }
}
