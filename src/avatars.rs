//! Members' avatars (the seed's R2 key `avatars/{user_id}/avatar.{ext}`):
//! an upload is checked (PNG, JPEG or WebP, at most 1 MB, by its bytes, not
//! its name), decoded to prove it is an image, cropped to a square and
//! re-encoded as a small PNG, then stored through the same local-or-R2
//! object store as the logs ([`LogStore::put`]). Re-encoding drops whatever
//! else the file carried (metadata, trailing bytes, a script). Cards without
//! an avatar show [`initials`]. This module knows no SQL, HTTP or MCP.
//!
//! The three decoders and the PNG encoder are used directly (`png`,
//! `zune-jpeg`, `image-webp`: the crates the `image` crate itself wraps);
//! the crop and the resampling are the few lines below. `image` would add
//! its pixel-type generics and a colour-management engine the server never
//! uses (issue 13: binary size and build time).

use std::io::Cursor;

use bytes::Bytes;

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
    let format = sniff(bytes).map_err(|found| AvatarError::UnsupportedType {
        found: found.map(str::to_owned),
    })?;
    let mime = format.mime();
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
    let picture = decode(bytes, format).map_err(undecodable)?;
    let square = square_rgba(&picture, AVATAR_PIXELS);
    encode_png(&square, AVATAR_PIXELS).map_err(|e| undecodable(format!("re-encoding failed: {e}")))
}

/// The formats an upload may be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Png,
    Jpeg,
    WebP,
}

impl Format {
    fn mime(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
            Format::WebP => "image/webp",
        }
    }
}

/// The format `bytes` start like: an accepted one, or the name of another
/// well-known kind of file for the refusal.
fn sniff(bytes: &[u8]) -> Result<Format, Option<&'static str>> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(Format::Png);
    }
    if bytes.starts_with(b"\xff\xd8\xff") {
        return Ok(Format::Jpeg);
    }
    if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        return Ok(Format::WebP);
    }
    const OTHERS: &[(&[u8], &str)] = &[
        (b"GIF87a", "GIF"),
        (b"GIF89a", "GIF"),
        (b"BM", "BMP"),
        (b"II*\0", "TIFF"),
        (b"MM\0*", "TIFF"),
        (b"\0\0\x01\0", "ICO"),
        (b"qoif", "QOI"),
        (b"\x76\x2f\x31\x01", "OPENEXR"),
        (b"#?RADIANCE", "HDR"),
        (b"DDS ", "DDS"),
        (b"farbfeld", "FARBFELD"),
        (b"%PDF", "PDF"),
    ];
    if let Some((_, name)) = OTHERS.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return Err(Some(name));
    }
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return Err(match &bytes[8..12] {
            b"avif" | b"avis" => Some("AVIF"),
            b"heic" | b"heix" | b"mif1" => Some("HEIC"),
            _ => None,
        });
    }
    Err(None)
}

/// A decoded picture: 8-bit samples, `channels` (1 to 4: gray, gray and
/// alpha, RGB, RGBA) per pixel, row after row.
struct Picture {
    width: u32,
    height: u32,
    channels: usize,
    samples: Vec<u8>,
}

/// Refuses a declared size over [`MAX_SIDE`] or [`MAX_DECODE_BYTES`]
/// before anything is allocated for it.
fn check_size(width: u32, height: u32) -> Result<(), String> {
    if width == 0 || height == 0 {
        return Err(format!("it declares {width}×{height} pixels"));
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(format!(
            "it declares {width}×{height} pixels; the limit is {MAX_SIDE} on each side"
        ));
    }
    if u64::from(width) * u64::from(height) * 4 > MAX_DECODE_BYTES {
        return Err(format!(
            "{width}×{height} pixels would take more than {} MB to decode",
            MAX_DECODE_BYTES / (1024 * 1024)
        ));
    }
    Ok(())
}

fn decode(bytes: &[u8], format: Format) -> Result<Picture, String> {
    let picture = match format {
        Format::Png => decode_png(bytes),
        Format::Jpeg => decode_jpeg(bytes),
        Format::WebP => decode_webp(bytes),
    }?;
    let needed = picture.width as usize * picture.height as usize * picture.channels;
    if picture.samples.len() < needed {
        return Err("it decoded to fewer pixels than it declares".to_owned());
    }
    Ok(picture)
}

fn decode_png(bytes: &[u8]) -> Result<Picture, String> {
    let limits = png::Limits {
        bytes: usize::try_from(MAX_DECODE_BYTES).unwrap_or(usize::MAX),
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    // Palettes and low bit depths expanded, 16 bits cut to 8.
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let header = decoder.read_header_info().map_err(|e| e.to_string())?;
    check_size(header.width, header.height)?;
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let size = reader
        .output_buffer_size()
        .ok_or("its frame is too large to decode")?;
    let mut buffer = vec![0; size];
    let frame = reader.next_frame(&mut buffer).map_err(|e| e.to_string())?;
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err("its palette was not expanded".to_owned()),
    };
    // Rows may be padded past width × channels; keep exactly that much.
    let row = frame.width as usize * channels;
    let samples = buffer
        .chunks(frame.line_size)
        .take(frame.height as usize)
        .flat_map(|line| line.get(..row).unwrap_or(line).iter().copied())
        .collect();
    Ok(Picture {
        width: frame.width,
        height: frame.height,
        channels,
        samples,
    })
}

fn decode_jpeg(bytes: &[u8]) -> Result<Picture, String> {
    use zune_jpeg::zune_core::{
        bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions,
    };
    let options = DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(MAX_SIDE as usize)
        .set_max_height(MAX_SIDE as usize);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(|e| e.to_string())?;
    let (width, height) = decoder.dimensions().ok_or("it has no frame header")?;
    let (width, height) = (width as u32, height as u32);
    check_size(width, height)?;
    // Gray stays gray; CMYK and YCbCr come out as RGB.
    let input = decoder.input_colorspace().ok_or("it has no frame header")?;
    let output = match input {
        ColorSpace::Luma | ColorSpace::LumaA | ColorSpace::RGB | ColorSpace::RGBA => input,
        _ => ColorSpace::RGB,
    };
    decoder.set_options(decoder.options().jpeg_set_out_colorspace(output));
    let samples = decoder.decode().map_err(|e| e.to_string())?;
    Ok(Picture {
        width,
        height,
        channels: output.num_components(),
        samples,
    })
}

fn decode_webp(bytes: &[u8]) -> Result<Picture, String> {
    let mut decoder =
        image_webp::WebPDecoder::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let (width, height) = decoder.dimensions();
    check_size(width, height)?;
    decoder.set_memory_limit(usize::try_from(MAX_DECODE_BYTES).unwrap_or(usize::MAX));
    let size = decoder
        .output_buffer_size()
        .ok_or("its frame is too large to decode")?;
    let mut samples = vec![0; size];
    decoder
        .read_image(&mut samples)
        .map_err(|e| e.to_string())?;
    let channels = if decoder.has_alpha() { 4 } else { 3 };
    Ok(Picture {
        width,
        height,
        channels,
        samples,
    })
}

/// The centre square of `picture`, resampled to `side`×`side` RGBA with a
/// triangle (linear) filter that widens when it shrinks, so every source
/// pixel counts (what `image`'s `resize_to_fill` with `Triangle` does).
/// `picture.samples` holds at least width × height × channels (checked in
/// [`decode`]).
fn square_rgba(picture: &Picture, side: u32) -> Vec<u8> {
    let crop = picture.width.min(picture.height) as usize;
    let (left, top) = (
        (picture.width as usize - crop) / 2,
        (picture.height as usize - crop) / 2,
    );
    let side = side as usize;
    let weights = triangle_weights(crop, side);
    let (stride, channels) = (picture.width as usize * picture.channels, picture.channels);
    let rgba = |row: usize, column: usize| -> [f32; 4] {
        let at = row * stride + column * channels;
        let s = &picture.samples[at..at + channels];
        let v = |i: usize| f32::from(s[i]);
        match channels {
            1 => [v(0), v(0), v(0), 255.0],
            2 => [v(0), v(0), v(0), v(1)],
            3 => [v(0), v(1), v(2), 255.0],
            _ => [v(0), v(1), v(2), v(3)],
        }
    };
    // Across first (each source row of the crop to `side` columns), then down.
    let mut across = vec![[0f32; 4]; crop * side];
    for y in 0..crop {
        for (x, (start, taps)) in weights.iter().enumerate() {
            let mut sum = [0f32; 4];
            for (k, weight) in taps.iter().enumerate() {
                let pixel = rgba(top + y, left + start + k);
                sum.iter_mut()
                    .zip(pixel)
                    .for_each(|(s, p)| *s += p * weight);
            }
            across[y * side + x] = sum;
        }
    }
    let mut out = Vec::with_capacity(side * side * 4);
    for (start, taps) in &weights {
        for x in 0..side {
            let mut sum = [0f32; 4];
            for (k, weight) in taps.iter().enumerate() {
                let pixel = across[(start + k) * side + x];
                sum.iter_mut()
                    .zip(pixel)
                    .for_each(|(s, p)| *s += p * weight);
            }
            out.extend(sum.map(|v| v.round().clamp(0.0, 255.0) as u8));
        }
    }
    out
}

/// For each of `to` output positions over `from` input ones: the first
/// input it reads and the normalised weights of the inputs from there.
fn triangle_weights(from: usize, to: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = from as f32 / to as f32;
    let radius = scale.max(1.0);
    (0..to)
        .map(|i| {
            let centre = (i as f32 + 0.5) * scale;
            let first = ((centre - radius).floor().max(0.0)) as usize;
            let last = ((centre + radius).ceil() as usize).min(from);
            let mut taps: Vec<f32> = (first..last)
                .map(|j| (1.0 - ((j as f32 + 0.5 - centre) / radius).abs()).max(0.0))
                .collect();
            // The input nearest the centre is always in range with a
            // weight of at least ½, so the total is never 0.
            let total: f32 = taps.iter().sum();
            taps.iter_mut().for_each(|w| *w /= total);
            (first, taps)
        })
        .collect()
}

fn encode_png(rgba: &[u8], side: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgba)?;
    writer.finish()?;
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

    /// A PNG of `width`×`height` in `color` at `depth`, from raw `data`.
    fn png_of(
        width: u32,
        height: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        palette: Option<&[u8]>,
        data: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(color);
        encoder.set_depth(depth);
        if let Some(palette) = palette {
            encoder.set_palette(palette.to_vec());
        }
        let mut writer = encoder.write_header().expect("header");
        writer.write_image_data(data).expect("data");
        writer.finish().expect("finish");
        out
    }

    /// The stored PNG decoded back: its size and its RGBA pixels.
    fn stored_pixels(stored: &[u8]) -> (u32, u32, Vec<u8>) {
        let mut decoder = png::Decoder::new(Cursor::new(stored));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().expect("info");
        let mut buffer = vec![0; reader.output_buffer_size().expect("size")];
        let frame = reader.next_frame(&mut buffer).expect("frame");
        assert_eq!(frame.color_type, png::ColorType::Rgba);
        buffer.truncate(frame.buffer_size());
        (frame.width, frame.height, buffer)
    }

    fn pixel(pixels: &[u8], x: usize, y: usize) -> [u8; 4] {
        let at = (y * AVATAR_PIXELS as usize + x) * 4;
        [pixels[at], pixels[at + 1], pixels[at + 2], pixels[at + 3]]
    }

    #[test]
    fn a_wide_picture_is_cropped_to_its_centre_and_shrunk() {
        // 300×100: a red band, a 100-pixel green square in the middle, a
        // blue band. Only the green square survives the crop.
        let (width, height) = (300u32, 100u32);
        let mut data = Vec::new();
        for _ in 0..height {
            for x in 0..width {
                data.extend_from_slice(match x {
                    0..100 => &[255, 0, 0],
                    100..200 => &[0, 255, 0],
                    _ => &[0, 0, 255],
                });
            }
        }
        let upload = png_of(
            width,
            height,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            None,
            &data,
        );
        let stored = reencode(&upload, Some("image/png")).expect("re-encoded");
        let (w, h, pixels) = stored_pixels(&stored);
        assert_eq!((w, h), (AVATAR_PIXELS, AVATAR_PIXELS));
        for (x, y) in [(0, 0), (64, 64), (127, 127), (0, 127)] {
            assert_eq!(pixel(&pixels, x, y), [0, 255, 0, 255], "at {x},{y}");
        }
    }

    #[test]
    fn gray_sixteen_bit_palette_and_alpha_pngs_come_out_as_rgba() {
        // Gray and alpha, 8 bits: a half-transparent mid gray.
        let gray_alpha = png_of(
            4,
            4,
            png::ColorType::GrayscaleAlpha,
            png::BitDepth::Eight,
            None,
            &[128, 64].repeat(16),
        );
        // 16-bit RGB: 0xFF00 red cuts to 255.
        let deep = png_of(
            2,
            2,
            png::ColorType::Rgb,
            png::BitDepth::Sixteen,
            None,
            &[0xff, 0, 0, 0, 0, 0].repeat(4),
        );
        // A two-colour palette, 1 bit per pixel, all of index 1 (yellow).
        let indexed = png_of(
            8,
            8,
            png::ColorType::Indexed,
            png::BitDepth::One,
            Some(&[0, 0, 0, 255, 255, 0]),
            &[0xff; 8],
        );
        for (name, upload, expected) in [
            ("gray+alpha", gray_alpha, [128, 128, 128, 64]),
            ("16-bit", deep, [255, 0, 0, 255]),
            ("palette", indexed, [255, 255, 0, 255]),
        ] {
            let stored = reencode(&upload, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            let (_, _, pixels) = stored_pixels(&stored);
            assert_eq!(pixel(&pixels, 10, 100), expected, "{name}");
        }
    }

    #[test]
    fn a_declared_size_over_the_limit_is_refused_before_decoding() {
        // A valid 1×1 header whose width is then claimed to be 9000.
        let mut upload = png_of(
            1,
            1,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            None,
            &[0, 0, 0],
        );
        upload[16..20].copy_from_slice(&9000u32.to_be_bytes());
        let error = reencode(&upload, None).expect_err("refused").to_string();
        assert!(
            error.contains("could not be decoded as image/png"),
            "{error}"
        );
    }

    #[test]
    fn other_kinds_of_file_are_named_in_the_refusal() {
        for (bytes, named) in [
            (&b"GIF89a\x01\x00"[..], "GIF"),
            (b"BM\0\0\0\0", "BMP"),
            (b"\0\0\0\x1cftypavif\0\0", "AVIF"),
        ] {
            let error = reencode(bytes, None).expect_err("refused").to_string();
            assert!(
                error.contains(&format!("(it looks like {named})")),
                "{error}"
            );
        }
        let error = reencode(b"plain text", None)
            .expect_err("refused")
            .to_string();
        assert!(!error.contains("looks like"), "{error}");
    }
}
