//! Members' avatars: `members set-avatar` and `POST /avatars` take a real PNG, JPEG
//! or WebP of at most 1 MB, re-encode it as a 128×128 PNG and keep it under
//! the seed's key `avatars/{user_id}/avatar.png` in the logs' object store
//! (local disk, or the local R2); anything else is refused with a message
//! that says what to send. `GET /avatars/{user_id}` serves it within the
//! workspace only.

use std::io::Cursor;

use image::{ImageFormat, Rgb, RgbImage};
use serde_json::{Value, json};

use crate::{
    common::{DataDir, OWNER_EMAIL},
    http_support::HttpServer,
    session_logs_r2::LocalR2,
};

/// A real picture (a gradient, so it is not trivially compressible) in `format`.
fn picture(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), format)
        .expect("encode the test picture");
    out
}

/// Asserts `bytes` are the stored form: a 128×128 PNG.
fn assert_stored_form(bytes: &[u8]) {
    assert_eq!(
        image::guess_format(bytes).expect("a known format"),
        ImageFormat::Png
    );
    let decoded = image::load_from_memory(bytes).expect("decodes");
    assert_eq!((decoded.width(), decoded.height()), (128, 128));
}

fn owner_id(data: &DataDir) -> String {
    data.rows(
        "SELECT id FROM users WHERE email = ?",
        &[json!(OWNER_EMAIL)],
    )[0][0]
        .as_str()
        .expect("owner id")
        .to_owned()
}

fn set_avatar(data: &DataDir, extra: &[&str], file: &std::path::Path) -> std::process::Output {
    let mut args = vec![
        "members",
        "set-avatar",
        "--workspace",
        "default",
        "--email",
        OWNER_EMAIL,
    ];
    args.extend_from_slice(extra);
    args.push(file.to_str().expect("utf-8 path"));
    data.cli(&args)
}

#[test]
fn the_cli_accepts_png_and_jpeg_and_refuses_what_is_not_an_image() {
    let data = DataDir::new();
    // Any command sets up the local default workspace and its owner.
    data.cli_ok(&["workspaces", "list"]);
    let owner = owner_id(&data);
    let dir = data.path().join("uploads");
    std::fs::create_dir_all(&dir).expect("dir");
    let stored = data.path().join(format!("avatars/{owner}/avatar.png"));

    for (name, format) in [
        ("wide.png", ImageFormat::Png),
        ("photo.jpg", ImageFormat::Jpeg),
        ("lossless.webp", ImageFormat::WebP),
    ] {
        let file = dir.join(name);
        std::fs::write(&file, picture(300, 180, format)).expect("write");
        let out = set_avatar(&data, &[], &file);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("avatars/{owner}/avatar.png"),
            "{name}"
        );
        assert_stored_form(&std::fs::read(&stored).expect("stored on local disk"));
    }
    let kept = std::fs::read(&stored).expect("stored");

    let refused = |name: &str, bytes: Vec<u8>, expected: &str| {
        let file = dir.join(name);
        std::fs::write(&file, bytes).expect("write");
        let out = set_avatar(&data, &[], &file);
        assert!(!out.status.success(), "{name} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{name}: {stderr}");
    };
    refused(
        "notes.png",
        b"just some text, not a picture".to_vec(),
        "not a PNG, JPEG or WebP image",
    );
    refused(
        "anim.gif",
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(),
        "(it looks like GIF)",
    );
    let mut huge = picture(10, 10, ImageFormat::Png);
    huge.resize(1024 * 1024 + 1, 0);
    refused("huge.png", huge, "the limit is 1 MB");
    let mut damaged = picture(64, 64, ImageFormat::Png);
    damaged.truncate(60);
    refused("damaged.png", damaged, "could not be decoded as image/png");
    refused("empty.png", Vec::new(), "the avatar is empty");
    // A refusal leaves the avatar that was there.
    assert_eq!(std::fs::read(&stored).expect("still stored"), kept);

    let file = dir.join("wide.png");
    let out = data.cli(&[
        "members",
        "set-avatar",
        "--workspace",
        "default",
        "--email",
        "nobody@example.com",
        file.to_str().expect("utf-8"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("nobody@example.com is not a member of workspace 'default'")
            && stderr.contains(OWNER_EMAIL),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_cli_stores_the_avatar_in_r2_when_the_logs_are_there() {
    let r2 = LocalR2::start();
    let data = DataDir::new();
    data.cli_ok(&["workspaces", "list"]);
    let owner = owner_id(&data);
    let config = data.path().join("r2.toml");
    std::fs::write(&config, r2.logs_section(&r2.secret)).expect("config");
    let file = data.path().join("me.jpg");
    std::fs::write(&file, picture(200, 260, ImageFormat::Jpeg)).expect("write");
    let out = set_avatar(&data, &["--config", config.to_str().expect("utf-8")], &file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = format!("avatars/{owner}/avatar.png");
    let object = r2
        .objects()
        .get(&key)
        .await
        .expect("the avatar object is in R2");
    assert_stored_form(&object);
    assert!(
        !data.path().join(&key).exists(),
        "not on local disk as well"
    );
}

#[tokio::test]
async fn http_uploads_are_checked_and_served_within_the_workspace() {
    let data = DataDir::new();
    let writer = data.create_key("default", "board", "read,write");
    let reader = data.create_key("default", "viewer", "read");
    data.create_workspace("other", "other@example.com");
    let outsider = data.create_key("other", "outsider", "read,write");
    let owner = owner_id(&data);
    let server = HttpServer::start(data.path(), &["--no-runner"], &[]);
    // A refused upload is answered before its body is read, and the server
    // then closes that connection: each request gets its own, so none is
    // sent on a connection the server has just closed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let upload = async |key: &str, content_type: Option<&str>, body: Vec<u8>| -> (u16, Value) {
        let mut request = client
            .post(server.url("/avatars"))
            .bearer_auth(key)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("POST /avatars");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    };
    let png = picture(320, 200, ImageFormat::Png);

    let (status, body) = upload(&writer, Some("image/png"), png.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["key"], json!(format!("avatars/{owner}/avatar.png")));
    assert_eq!(body["url"], json!(format!("/avatars/{owner}")));
    assert_stored_form(
        &std::fs::read(data.path().join(format!("avatars/{owner}/avatar.png"))).expect("stored"),
    );

    // Served to the workspace, as a 128×128 PNG that no browser sniffs.
    let response = client
        .get(server.url(&format!("/avatars/{owner}")))
        .bearer_auth(&reader)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_stored_form(&response.bytes().await.expect("body"));

    // Refusals say what to send.
    let refusals = [
        (
            &writer,
            Some("image/jpeg"),
            png.clone(),
            415,
            "its bytes are image/png",
        ),
        (&writer, None, png.clone(), 415, "Content-Type image/png"),
        (
            &writer,
            Some("image/png"),
            b"<svg/>".to_vec(),
            415,
            "not a PNG, JPEG or WebP",
        ),
        (
            &writer,
            Some("image/png"),
            vec![0x89; 2 * 1024 * 1024],
            413,
            "the limit is 1 MB",
        ),
        (
            &reader,
            Some("image/png"),
            png.clone(),
            403,
            "`write` scope",
        ),
    ];
    for (key, content_type, body, want, says) in refusals {
        let (status, reply) = upload(key, content_type, body).await;
        assert_eq!(status, want, "{content_type:?}: {reply}");
        assert!(
            reply["error"].as_str().unwrap_or_default().contains(says),
            "{reply}"
        );
    }
    let anonymous = client
        .post(server.url("/avatars"))
        .header("content-type", "image/png")
        .body(picture(4, 4, ImageFormat::Png))
        .send()
        .await
        .expect("POST");
    assert_eq!(anonymous.status().as_u16(), 401);

    // Another workspace's member is not found, never the picture.
    let response = client
        .get(server.url(&format!("/avatars/{owner}")))
        .bearer_auth(&outsider)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("has no avatar in workspace 'other'"),
        "{body}"
    );
}
