//! MCP over stdin/stdout, for local agents. stdout carries protocol messages
//! only; every log line goes to stderr.
//!
//! The line reader is ours, not rmcp's (which drops a line it cannot parse,
//! leaving the client waiting forever): each line is parsed here, a good
//! message goes to rmcp, and a malformed one is answered here with a
//! JSON-RPC error ([`jsonrpc_errors`](super::jsonrpc_errors)) carrying its
//! id when one can be read. Several messages on one line are each handled in
//! order; if the rest of a line cannot be read, that rest gets one -32700. A
//! line longer than [`MAX_LINE_BYTES`] is refused with -32600 without being
//! kept in memory. One writer task owns stdout, so replies from rmcp and
//! from the reader never interleave inside a line.

use std::pin::Pin;

use futures::{Sink, Stream};
use rmcp::{
    ServiceExt,
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
};
use serde_json::Value;
use tokio::{
    io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    sync::mpsc,
};

use super::{jsonrpc_errors, stdio_direct::Direct};
use crate::server::KanbanServer;

/// Longest line (one message) accepted on stdin.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;
/// How much of the start and of the end of an over-long line is kept to
/// find its id.
const KEPT_OF_LONG_LINE: usize = 64 * 1024;
/// Longest wait, at the end, for queued replies to reach stdout.
const WRITER_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);
/// Messages buffered between the reader, rmcp and the writer.
const CHANNEL_CAPACITY: usize = 64;

/// Serves `server` on stdin/stdout until the client closes stdin or
/// `shutdown` resolves (the binary passes SIGINT/SIGTERM; the library
/// installs no signal handler). Each store write is committed before its
/// reply is sent, so stopping between calls loses nothing acknowledged.
pub async fn serve(server: KanbanServer, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let (input, output) = process_stdio();
    serve_on(server, input, output, shutdown).await
}

/// The process's stdin, as [`process_stdio`] opens it.
pub type Input = Pin<Box<dyn tokio::io::AsyncRead + Send>>;
/// The process's stdout, as [`process_stdio`] opens it.
pub type Output = Pin<Box<dyn AsyncWrite + Send>>;

/// The process's stdin and stdout for [`serve_on`]. When they are pipes or
/// sockets (how an MCP client starts a stdio server) they are read and
/// written on the runtime's own event loop; tokio's `stdin()`/`stdout()` instead hand every
/// read and every write to a blocking-pool thread, two thread hops per call
/// and a thread parked in `read(0)` for the whole session. Anything else (a
/// terminal, a file) gets tokio's. stdout stays on tokio's when stderr is the
/// same pipe: non-blocking mode belongs to the pipe's open file, which
/// stderr would then share, and its blocking log writes could fail.
pub fn process_stdio() -> (Input, Output) {
    #[cfg(unix)]
    {
        let input = pipe::stdin().unwrap_or_else(|| Box::pin(tokio::io::stdin()));
        let output = pipe::stdout().unwrap_or_else(|| Box::pin(tokio::io::stdout()));
        (input, output)
    }
    #[cfg(not(unix))]
    {
        (Box::pin(tokio::io::stdin()), Box::pin(tokio::io::stdout()))
    }
}

#[cfg(unix)]
mod pipe {
    use std::{
        fs::File,
        io,
        os::{
            fd::{AsFd, OwnedFd},
            unix::fs::{FileTypeExt, MetadataExt},
        },
    };

    use tokio::net::unix::pipe::{Receiver, Sender};

    use super::{Input, Output};

    /// fd 0 on the event loop, if it is a pipe or a socket (Node's
    /// `child_process`, which many MCP clients use, gives a child socket
    /// pairs rather than pipes).
    pub fn stdin() -> Option<Input> {
        let (fd, file) = dup(io::stdin().as_fd())?;
        if file.metadata().ok()?.file_type().is_socket() {
            return Some(Box::pin(socket(fd)?));
        }
        Some(Box::pin(Receiver::from_file(File::from(fd)).ok()?))
    }

    /// fd 1 on the event loop, if it is a pipe or a socket that stderr does
    /// not share.
    pub fn stdout() -> Option<Output> {
        let (fd, file) = dup(io::stdout().as_fd())?;
        let out = file.metadata().ok()?;
        if let Some(err) = dup(io::stderr().as_fd()).and_then(|(_, f)| f.metadata().ok())
            && (err.dev(), err.ino()) == (out.dev(), out.ino())
        {
            return None;
        }
        if out.file_type().is_socket() {
            return Some(Box::pin(socket(fd)?));
        }
        Some(Box::pin(Sender::from_file(File::from(fd)).ok()?))
    }

    fn socket(fd: OwnedFd) -> Option<tokio::net::UnixStream> {
        let stream = std::os::unix::net::UnixStream::from(fd);
        stream.set_nonblocking(true).ok()?;
        tokio::net::UnixStream::from_std(stream).ok()
    }

    /// A second descriptor of the same open file (dropping it leaves fd 0/1
    /// open), and one more to read its metadata with; `None` when the
    /// descriptor is closed or cannot be copied.
    fn dup(fd: std::os::fd::BorrowedFd<'_>) -> Option<(OwnedFd, File)> {
        let owned = fd.try_clone_to_owned().ok()?;
        let probe = File::from(owned.try_clone().ok()?);
        Some((owned, probe))
    }
}

/// Serves `server` on any pair of byte streams, one message a line, until
/// the input ends or `shutdown` resolves.
pub async fn serve_on(
    server: KanbanServer,
    input: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    output: impl AsyncWrite + Unpin + Send + 'static,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (lines_tx, lines_rx) = mpsc::channel::<Vec<u8>>(CHANNEL_CAPACITY);
    let writer = tokio::spawn(write_lines(output, lines_rx));
    let (to_server, from_client) = mpsc::channel::<ClientJsonRpcMessage>(CHANNEL_CAPACITY);
    let direct = Direct::new(server.clone());
    let reader = tokio::spawn(read_lines(
        BufReader::new(input),
        to_server,
        lines_tx.clone(),
        direct.clone(),
    ));

    let incoming: Pin<Box<dyn Stream<Item = ClientJsonRpcMessage> + Send>> =
        Box::pin(futures::stream::unfold(from_client, |mut rx| async move {
            rx.recv().await.map(|message| (message, rx))
        }));
    let outgoing: Pin<Box<dyn Sink<ServerJsonRpcMessage, Error = std::io::Error> + Send>> =
        Box::pin(futures::sink::unfold(
            (lines_tx, direct.clone()),
            |(tx, direct), message: ServerJsonRpcMessage| async move {
                // Before the client can read the initialize reply.
                direct.replied(&message);
                let line = serde_json::to_vec(&message).map_err(std::io::Error::other)?;
                tx.send(line)
                    .await
                    .map_err(|_| std::io::Error::other("stdout is closed"))?;
                Ok::<_, std::io::Error>((tx, direct))
            },
        ));

    // `checked()` re-checks the connection's key before each request and
    // refuses a listen on another workspace's session log.
    let running = server.checked().serve((outgoing, incoming)).await;
    let result = match running {
        Ok(running) => {
            tokio::select! {
                quit = running.waiting() => {
                    quit?;
                    tracing::info!("client closed the connection");
                }
                () = shutdown => {
                    tracing::info!("shutting down");
                }
            }
            Ok(())
        }
        Err(error) => Err(error.into()),
    };
    reader.abort();
    // Every reply queued so far reaches stdout before the process ends
    // (bounded, should a stalled client stop reading).
    let _ = tokio::time::timeout(WRITER_DRAIN, writer).await;
    result
}

/// Owns stdout: one message a line, flushed as it comes.
async fn write_lines(mut output: impl AsyncWrite + Unpin, mut lines: mpsc::Receiver<Vec<u8>>) {
    while let Some(mut line) = lines.recv().await {
        line.push(b'\n');
        if let Err(error) = async {
            output.write_all(&line).await?;
            output.flush().await
        }
        .await
        {
            tracing::info!(%error, "stdout closed");
            return;
        }
    }
}

/// One line of input.
enum Line {
    Complete(Vec<u8>),
    /// Longer than the limit: its start and its end.
    TooLong {
        head: Vec<u8>,
        tail: Vec<u8>,
    },
    End,
}

/// Reads up to the next newline, keeping at most `max` bytes of it.
async fn read_line(input: &mut (impl AsyncBufRead + Unpin), max: usize) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut tail: Vec<u8> = Vec::new();
    let mut too_long = false;
    let mut seen_any = false;
    loop {
        let buffer = input.fill_buf().await?;
        if buffer.is_empty() {
            if !seen_any {
                return Ok(Line::End);
            }
            break;
        }
        seen_any = true;
        let (chunk, used, done) = match buffer.iter().position(|b| *b == b'\n') {
            Some(newline) => (&buffer[..newline], newline + 1, true),
            None => (buffer, buffer.len(), false),
        };
        if !too_long && line.len() + chunk.len() > max {
            too_long = true;
            tail = line[line.len().saturating_sub(KEPT_OF_LONG_LINE)..].to_vec();
            line.truncate(KEPT_OF_LONG_LINE);
        }
        if too_long {
            if line.len() < KEPT_OF_LONG_LINE {
                let room = KEPT_OF_LONG_LINE - line.len();
                line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            tail.extend_from_slice(chunk);
            if tail.len() > KEPT_OF_LONG_LINE {
                tail.drain(..tail.len() - KEPT_OF_LONG_LINE);
            }
        } else {
            line.extend_from_slice(chunk);
        }
        input.consume(used);
        if done {
            break;
        }
    }
    if too_long {
        return Ok(Line::TooLong { head: line, tail });
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Line::Complete(line))
}

/// Reads stdin line by line until it closes; runs plain tool calls itself
/// ([`Direct`]), hands the other good messages to rmcp and answers the rest.
async fn read_lines(
    mut input: impl AsyncBufRead + Unpin,
    to_server: mpsc::Sender<ClientJsonRpcMessage>,
    replies: mpsc::Sender<Vec<u8>>,
    direct: Direct,
) {
    loop {
        let line = match read_line(&mut input, MAX_LINE_BYTES).await {
            Ok(Line::End) => return,
            Ok(Line::Complete(line)) => line,
            Ok(Line::TooLong { head, tail }) => {
                let mut id = jsonrpc_errors::recover_id(&head);
                if id.is_null() {
                    id = jsonrpc_errors::recover_trailing_id(&tail);
                }
                tracing::warn!(%id, "refused a message longer than {MAX_LINE_BYTES} bytes");
                let reply = jsonrpc_errors::error(
                    id,
                    jsonrpc_errors::INVALID_REQUEST,
                    &format!(
                        "the message is longer than {} MiB; send smaller messages",
                        MAX_LINE_BYTES / (1024 * 1024)
                    ),
                );
                if !send_reply(&replies, &reply).await {
                    return;
                }
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, "could not read stdin");
                return;
            }
        };
        for parsed in split_messages(&line) {
            let outcome = match parsed.map(|value| direct.take(value)) {
                Ok(Ok(call)) => {
                    direct.answer(call, replies.clone());
                    continue;
                }
                Ok(Err(value)) => jsonrpc_errors::to_message(value),
                Err(reply) => Err(reply),
            };
            match outcome {
                Ok(message) => {
                    if to_server.send(message).await.is_err() {
                        return;
                    }
                }
                Err(reply) => {
                    tracing::debug!(reply = %reply, "answered a malformed message");
                    if !send_reply(&replies, &reply).await {
                        return;
                    }
                }
            }
        }
    }
}

async fn send_reply(replies: &mpsc::Sender<Vec<u8>>, reply: &Value) -> bool {
    match serde_json::to_vec(reply) {
        Ok(line) => replies.send(line).await.is_ok(),
        Err(_) => true,
    }
}

/// The JSON values on one line, in order; the first part that cannot be
/// read ends the line with its parse error.
fn split_messages(line: &[u8]) -> Vec<Result<Value, Value>> {
    let mut out = Vec::new();
    let mut values = serde_json::Deserializer::from_slice(line).into_iter::<Value>();
    loop {
        let offset = values.byte_offset();
        match values.next() {
            None => break,
            Some(Ok(value)) => out.push(Ok(value)),
            Some(Err(problem)) => {
                out.push(Err(jsonrpc_errors::parse_error(&line[offset..], &problem)));
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn long_lines_are_cut_and_the_next_line_is_read() {
        let mut text = b"{\"id\":1,\"x\":\"".to_vec();
        text.extend(std::iter::repeat_n(b'a', 300));
        text.extend_from_slice(b"\"}\nnext\r\n");
        let mut input = BufReader::with_capacity(16, &text[..]);
        match read_line(&mut input, 100).await.expect("read") {
            Line::TooLong { head, tail } => {
                assert!(head.starts_with(b"{\"id\":1"));
                assert!(tail.ends_with(b"\"}"));
            }
            _ => panic!("a line over the limit"),
        }
        match read_line(&mut input, 100).await.expect("read") {
            Line::Complete(line) => assert_eq!(line, b"next"),
            _ => panic!("the next line"),
        }
        assert!(matches!(
            read_line(&mut input, 100).await.expect("read"),
            Line::End
        ));
    }

    #[test]
    fn several_messages_on_a_line_are_each_read() {
        let parts = split_messages(br#"{"id":1} {"id":2}{"id":3,"x":"#);
        assert_eq!(parts.len(), 3);
        assert!(parts[0].is_ok() && parts[1].is_ok());
        let reply = parts[2].as_ref().expect_err("cut");
        assert_eq!(reply["id"], 3);
        assert_eq!(reply["error"]["code"], jsonrpc_errors::PARSE_ERROR);
    }
}
