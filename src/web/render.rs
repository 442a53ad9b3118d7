//! Text made into safe HTML: a task's markdown, an execution log's ANSI
//! colours, a session's unified diff. Everything is escaped first; only
//! the markup written here is added, never the input's own.

use maud::{Markup, PreEscaped, html};

/// `text` with `&`, `<`, `>`, `"` and `'` escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` percent-encoded for a query string (RFC 3986 unreserved
/// characters kept).
pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A small, safe markdown subset: headings, paragraphs, `-`/`*` lists,
/// fenced code, inline `code`, **bold**, *emphasis* and http(s) links. Raw
/// HTML in the input shows as text.
pub fn markdown(text: &str) -> Markup {
    let mut out = String::new();
    let mut paragraph: Vec<String> = Vec::new();
    let mut list: Vec<String> = Vec::new();
    let mut code: Option<Vec<String>> = None;
    let flush = |out: &mut String, paragraph: &mut Vec<String>, list: &mut Vec<String>| {
        if !paragraph.is_empty() {
            out.push_str("<p>");
            out.push_str(&inline(&paragraph.join("\n")));
            out.push_str("</p>");
            paragraph.clear();
        }
        if !list.is_empty() {
            out.push_str("<ul>");
            for item in list.iter() {
                out.push_str("<li>");
                out.push_str(&inline(item));
                out.push_str("</li>");
            }
            out.push_str("</ul>");
            list.clear();
        }
    };
    for line in text.lines() {
        if let Some(lines) = &mut code {
            if line.trim_start().starts_with("```") {
                out.push_str("<pre><code>");
                out.push_str(&escape(&lines.join("\n")));
                out.push_str("</code></pre>");
                code = None;
            } else {
                lines.push(line.to_owned());
            }
            continue;
        }
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            flush(&mut out, &mut paragraph, &mut list);
            code = Some(Vec::new());
        } else if trimmed.is_empty() {
            flush(&mut out, &mut paragraph, &mut list);
        } else if let Some((level, title)) = heading(trimmed) {
            flush(&mut out, &mut paragraph, &mut list);
            // Headings inside a task start at h3: the page has h1 and h2.
            let tag = (level + 2).min(6);
            out.push_str(&format!("<h{tag}>{}</h{tag}>", inline(title)));
        } else if let Some(item) = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
        {
            if !paragraph.is_empty() {
                flush(&mut out, &mut paragraph, &mut list);
            }
            list.push(item.to_owned());
        } else {
            if !list.is_empty() {
                flush(&mut out, &mut paragraph, &mut list);
            }
            paragraph.push(trimmed.to_owned());
        }
    }
    if let Some(lines) = code {
        out.push_str("<pre><code>");
        out.push_str(&escape(&lines.join("\n")));
        out.push_str("</code></pre>");
    }
    flush(&mut out, &mut paragraph, &mut list);
    PreEscaped(out)
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|c| *c == '#').count();
    (1..=6)
        .contains(&level)
        .then(|| line[level..].strip_prefix(' '))
        .flatten()
        .map(|title| (level, title))
}

/// Inline markup of one block: escaped text with code, bold, emphasis and
/// links.
fn inline(text: &str) -> String {
    let mut out = String::new();
    // Code spans first: nothing inside them is markup.
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(&escape(part));
            out.push_str("</code>");
        } else {
            out.push_str(&emphasis(&links(part)));
        }
    }
    out
}

/// `[text](http…)` as links (other schemes stay text); the rest escaped.
fn links(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find("](") else {
            break;
        };
        let target_start = &after[close + 2..];
        let Some(end) = target_start.find(')') else {
            break;
        };
        let label = &after[..close];
        let url = &target_start[..end];
        out.push_str(&escape(&rest[..open]));
        if url.starts_with("https://") || url.starts_with("http://") {
            out.push_str(&format!(
                "<a href=\"{}\" rel=\"noopener noreferrer\">{}</a>",
                escape(url),
                escape(label)
            ));
        } else {
            out.push_str(&escape(&rest[open..open + 1 + close + 2 + end + 1]));
        }
        rest = &target_start[end + 1..];
    }
    out.push_str(&escape(rest));
    out
}

/// `**bold**` and `*emphasis*` over already escaped text (`*` is never
/// escaped, and the tags added contain none).
fn emphasis(escaped: &str) -> String {
    let pair = |text: &str, marker: &str, tag: &str| {
        let parts: Vec<&str> = text.split(marker).collect();
        if parts.len() < 3 {
            return text.to_owned();
        }
        let mut out = String::new();
        let closed = parts.len() % 2 == 1;
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                let last_unpaired = !closed && i == parts.len() - 1;
                if last_unpaired {
                    out.push_str(marker);
                } else if i % 2 == 1 {
                    out.push_str(&format!("<{tag}>"));
                } else {
                    out.push_str(&format!("</{tag}>"));
                }
            }
            out.push_str(part);
        }
        out
    };
    let bold = pair(escaped, "**", "strong");
    pair(&bold, "*", "em")
}

/// An execution log's text as HTML: SGR colours and bold become spans with
/// classes (no inline styles: the CSP allows none), other escape sequences
/// are dropped.
pub fn ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut fg: Option<u8> = None;
    let mut bold = false;
    let mut open = false;
    let mut chars = text.char_indices().peekable();
    let mut plain_start = 0;
    let flush_plain = |out: &mut String, from: usize, to: usize| {
        if from < to {
            out.push_str(&escape(&text[from..to]));
        }
    };
    while let Some((i, c)) = chars.next() {
        if c != '\u{1b}' {
            continue;
        }
        flush_plain(&mut out, plain_start, i);
        // ESC [ params final
        let mut end = i + 1;
        let mut params = String::new();
        let mut is_sgr = false;
        if let Some(&(_, '[')) = chars.peek() {
            chars.next();
            end += 1;
            for (j, d) in chars.by_ref() {
                end = j + d.len_utf8();
                if d.is_ascii_digit() || d == ';' {
                    params.push(d);
                } else {
                    is_sgr = d == 'm';
                    break;
                }
            }
        } else if let Some((j, d)) = chars.next() {
            end = j + d.len_utf8();
        }
        plain_start = end;
        if !is_sgr {
            continue;
        }
        for code in params.split(';') {
            match code.parse::<u8>().unwrap_or(0) {
                0 => {
                    fg = None;
                    bold = false;
                }
                1 => bold = true,
                22 => bold = false,
                c @ 30..=37 => fg = Some(c - 30),
                c @ 90..=97 => fg = Some(c - 90 + 8),
                39 => fg = None,
                _ => {}
            }
        }
        if open {
            out.push_str("</span>");
            open = false;
        }
        if fg.is_some() || bold {
            let mut classes = Vec::new();
            if let Some(c) = fg {
                classes.push(format!("c{c}"));
            }
            if bold {
                classes.push("b".to_owned());
            }
            out.push_str(&format!("<span class=\"{}\">", classes.join(" ")));
            open = true;
        }
    }
    flush_plain(&mut out, plain_start, text.len());
    if open {
        out.push_str("</span>");
    }
    out
}

/// The length of `text` without an escape sequence cut off at its end
/// (the next read of a growing log brings the rest of it).
pub fn complete_escapes(text: &str) -> usize {
    let Some(esc) = text.rfind('\u{1b}') else {
        return text.len();
    };
    let rest = &text[esc + 1..];
    let finished = match rest.strip_prefix('[') {
        Some(params) => params.chars().any(|c| ('\u{40}'..='\u{7e}').contains(&c)),
        None => !rest.is_empty(),
    };
    if finished { text.len() } else { esc }
}

/// One file of a unified diff.
struct DiffFile<'a> {
    path: String,
    lines: Vec<&'a str>,
    additions: usize,
    deletions: usize,
}

/// A unified diff (git's) as one collapsible section per file, lines
/// coloured by kind.
pub fn diff(patch: &str) -> Markup {
    let mut files: Vec<DiffFile> = Vec::new();
    for line in patch.lines() {
        if let Some(rest) = line.strip_prefix("diff --git ") {
            let path = rest.rsplit_once(" b/").map_or(rest, |(_, b)| b).to_owned();
            files.push(DiffFile {
                path,
                lines: Vec::new(),
                additions: 0,
                deletions: 0,
            });
            continue;
        }
        let Some(file) = files.last_mut() else {
            continue;
        };
        if line.starts_with('+') && !line.starts_with("+++") {
            file.additions += 1;
        } else if line.starts_with('-') && !line.starts_with("---") {
            file.deletions += 1;
        }
        file.lines.push(line);
    }
    html! {
        @if files.is_empty() {
            p class="muted" { "No changes." }
        }
        @for file in &files {
            details class="file" open {
                summary {
                    span class="path" { (file.path) }
                    " "
                    span class="add" { "+" (file.additions) }
                    " "
                    span class="del" { "−" (file.deletions) }
                }
                pre class="diff" {
                    @for line in &file.lines {
                        @let class = line_class(line);
                        span class=(class) { (line) "\n" }
                    }
                }
            }
        }
    }
}

fn line_class(line: &str) -> &'static str {
    if line.starts_with("+++") || line.starts_with("---") {
        "meta"
    } else if line.starts_with('+') {
        "add"
    } else if line.starts_with('-') {
        "del"
    } else if line.starts_with("@@") {
        "hunk"
    } else if line.starts_with(' ') || line.is_empty() {
        "ctx"
    } else {
        "meta"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escapes_html_and_keeps_its_subset() {
        let html = markdown("# Title\n\n<img src=x onerror=alert(1)> **bold** `<b>`\n\n- one\n- [two](https://example.com)\n- [bad](javascript:alert(1))").into_string();
        assert!(html.contains("<h3>Title</h3>"), "{html}");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
        assert!(html.contains("<strong>bold</strong>"), "{html}");
        assert!(html.contains("<code>&lt;b&gt;</code>"), "{html}");
        assert!(html.contains("<a href=\"https://example.com\""), "{html}");
        assert!(!html.contains("href=\"javascript"), "{html}");
        assert!(!html.contains("<img"), "{html}");
    }

    #[test]
    fn ansi_colours_become_classes() {
        let html = ansi("\u{1b}[31mred <x>\u{1b}[0m plain \u{1b}[1;92mok\u{1b}[0m\u{1b}[2K");
        assert_eq!(
            html,
            "<span class=\"c1\">red &lt;x&gt;</span> plain <span class=\"c10 b\">ok</span>"
        );
    }

    #[test]
    fn a_cut_escape_sequence_waits_for_the_rest() {
        assert_eq!(complete_escapes("plain"), 5);
        assert_eq!(complete_escapes("red \u{1b}[31mtext"), 13);
        assert_eq!(complete_escapes("red \u{1b}[3"), 4);
        assert_eq!(complete_escapes("red \u{1b}"), 4);
    }

    #[test]
    fn a_diff_has_one_section_per_file() {
        let patch = "diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-old\n+new <b>\ndiff --git a/b.rs b/b.rs\n+x\n";
        let html = diff(patch).into_string();
        assert_eq!(html.matches("<details").count(), 2, "{html}");
        assert!(
            html.contains("<span class=\"add\">+new &lt;b&gt;\n</span>"),
            "{html}"
        );
        assert!(html.contains("<span class=\"path\">a.txt</span>"), "{html}");
    }
}
