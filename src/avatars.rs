//! Members' avatars (the seed's R2 key `avatars/{user_id}/avatar.{ext}`):
//! an upload is checked (PNG, JPEG or WebP, at most 1 MB, by its bytes, not
//! its name), decoded to prove it is an image, cropped to a square and
//! re-encoded as a small PNG, then stored through the same local-or-R2
//! object store as the logs ([`LogStore::put`]). Re-encoding drops whatever
//! else the file carried (metadata, trailing bytes, a script). Cards without
//! an avatar show [`initials`]. This module knows no SQL, HTTP or MCP.

use std::io::Cursor;

use bytes::Bytes;
use image::{ImageFormat, ImageReader, Limits, imageops::FilterType};

use crate::logs::{LogError, LogStore};

/// Largest upload, in bytes.
pub const MAX_AVATAR_BYTES: usize = 1024 * 1024;
/// Side of the stored square image, in pixels.
pub const AVATAR_PIXELS: u32 = 128;
/// The stored form's MIME type (and `.png` in its key).
pub const AVATAR_MIME: &str = "image/png";
/// Largest width or height an upload may declare: more is refused before
/// it is decoded (a small file can claim a huge picture).
const MAX_SIDE: u32 = 8192;
/// Memory the decoder may use.
const MAX_DECODE_BYTES: u64 = 128 * 1024 * 1024;

/// Why an avatar was refused or could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum AvatarError {
    #[error("the avatar is empty; send a PNG, JPEG or WebP image of at most 1 MB")]
    Empty,
    #[error(
        "the avatar is {size} bytes; the limit is 1 MB ({MAX_AVATAR_BYTES} bytes): send a smaller PNG, JPEG or WebP image"
    )]
    TooLarge { size: usize },
    #[error("the avatar is not a PNG, JPEG or WebP image{}; convert it to one of those", found.as_deref().map(|f| format!(" (it looks like {f})")).unwrap_or_default())]
    UnsupportedType { found: Option<String> },
    #[error(
        "the avatar was sent as {declared} but its bytes are {actual}; send it with Content-Type {actual}"
    )]
    TypeMismatch {
        declared: String,
        actual: &'static str,
    },
    #[error(
        "the avatar could not be decoded as {format} ({reason}); the file is damaged or not an image"
    )]
    Undecodable {
        format: &'static str,
        reason: String,
    },
    #[error("the avatar could not be stored: {0}")]
    Storage(#[from] LogError),
}

/// The object key of a user's avatar.
pub fn avatar_key(user_id: &str) -> String {
    format!("avatars/{user_id}/avatar.png")
}

/// The accepted formats and their MIME types.
fn accepted(format: ImageFormat) -> Option<&'static str> {
    match format {
        ImageFormat::Png => Some("image/png"),
        ImageFormat::Jpeg => Some("image/jpeg"),
        ImageFormat::WebP => Some("image/webp"),
        _ => None,
    }
}

/// Checks an upload and re-encodes it as a [`AVATAR_PIXELS`]-square PNG.
/// `declared` is the MIME type the upload came with, if any (an HTTP
/// Content-Type); it must match what the bytes are.
pub fn reencode(bytes: &[u8], declared: Option<&str>) -> Result<Vec<u8>, AvatarError> {
    if bytes.is_empty() {
        return Err(AvatarError::Empty);
    }
    if bytes.len() > MAX_AVATAR_BYTES {
        return Err(AvatarError::TooLarge { size: bytes.len() });
    }
    let guessed = image::guess_format(bytes).ok();
    let Some((format, mime)) = guessed.and_then(|f| accepted(f).map(|mime| (f, mime))) else {
        return Err(AvatarError::UnsupportedType {
            found: guessed.map(|f| format!("{f:?}").to_uppercase()),
        });
    };
    if let Some(declared) = declared {
        let declared = declared
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let same = declared == mime || (mime == "image/jpeg" && declared == "image/jpg");
        if !same {
            return Err(AvatarError::TypeMismatch {
                declared,
                actual: mime,
            });
        }
    }
    let undecodable = |reason: String| AvatarError::Undecodable {
        format: mime,
        reason,
    };
    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let picture = reader.decode().map_err(|e| undecodable(e.to_string()))?;
    let square = picture.resize_to_fill(AVATAR_PIXELS, AVATAR_PIXELS, FilterType::Triangle);
    let mut out = Vec::new();
    square
        .to_rgba8()
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .map_err(|e| undecodable(format!("re-encoding failed: {e}")))?;
    Ok(out)
}

/// Checks, re-encodes and stores `user_id`'s avatar; returns its key.
pub async fn set_avatar(
    objects: &LogStore,
    user_id: &str,
    bytes: &[u8],
    declared: Option<&str>,
) -> Result<String, AvatarError> {
    let png = reencode(bytes, declared)?;
    let key = avatar_key(user_id);
    objects.put(&key, Bytes::from(png)).await?;
    Ok(key)
}

/// `user_id`'s stored avatar (a PNG), if they set one.
pub async fn avatar(objects: &LogStore, user_id: &str) -> Result<Option<Bytes>, AvatarError> {
    Ok(objects.get(&avatar_key(user_id)).await?)
}

/// Up to two capital letters for a card without an avatar: the first
/// letters of the first and last words of the name, or of the email's
/// local part (`ada.lovelace@…` → `AL`); `?` when there is nothing.
pub fn initials(name: &str, email: &str) -> String {
    let words = |text: &str| -> Vec<char> {
        text.split(|c: char| c.is_whitespace() || matches!(c, '.' | '_' | '-' | '+'))
            .filter_map(|word| word.chars().find(|c| c.is_alphanumeric()))
            .collect()
    };
    let mut letters = words(name.trim());
    if letters.is_empty() {
        letters = words(email.split('@').next().unwrap_or_default());
    }
    let picked: String = match letters.as_slice() {
        [] => return "?".to_owned(),
        [one] => one.to_string(),
        [first, .., last] => [*first, *last].iter().collect(),
    };
    picked.to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_come_from_the_name_then_the_email() {
        assert_eq!(initials("Ada Lovelace", "ada@example.com"), "AL");
        assert_eq!(initials("grace brewster hopper", ""), "GH");
        assert_eq!(initials("", "ada.lovelace@example.com"), "AL");
        assert_eq!(initials("  ", "linus@example.com"), "L");
        assert_eq!(initials("Émile Zola", ""), "ÉZ");
        assert_eq!(initials("", ""), "?");
    }

    #[test]
    fn the_key_follows_the_seed_layout() {
        assert_eq!(avatar_key("u1"), "avatars/u1/avatar.png");
    }
}
