//! Recognising a person who pipes JSON text where frames are expected
//! (`echo '{"action":"hello"}' | passbridge`): the 4-byte length prefix is then the start of
//! the text (`{"ac` reads as 1,667,310,203 bytes). Pure: bytes in, advice out.

/// What to tell them.
pub const JSON_TEXT_HINT: &str = "this looks like JSON text: pipe it through `passbridge frame` \
     (echo '{\"action\":\"hello\"}' | passbridge frame | passbridge | passbridge unframe), \
     or run it with `passbridge call '{\"action\":\"hello\"}'`";

/// For a terminal on stdout: frames are binary and would garble it.
pub const TERMINAL_OUTPUT_HINT: &str = "stdout is a terminal and passbridge answers with binary \
     frames: pipe its output through `passbridge unframe` \
     (… | passbridge frame | passbridge | passbridge unframe)";

/// Whether a length prefix is plainly the start of JSON text: printable ASCII (or whitespace)
/// whose first non-blank byte opens an object or array.
pub fn looks_like_json_text(prefix: [u8; 4]) -> bool {
    let printable = prefix
        .iter()
        .all(|&b| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
    let first = prefix.iter().find(|b| !b.is_ascii_whitespace());
    printable && matches!(first, Some(b'{' | b'['))
}

/// The same test for a length already decoded in native byte order (as
/// [`super::frame::FrameError::TooLarge`] reports it).
pub fn length_looks_like_json_text(len: u64) -> bool {
    u32::try_from(len).is_ok_and(|l| looks_like_json_text(l.to_ne_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_prefixes_are_recognised() {
        for text in [&b"{\"ac"[..], b"{\n  ", b"[{\"i", b"  {\"", b"\n{\"i"] {
            let p: [u8; 4] = text.try_into().unwrap();
            assert!(looks_like_json_text(p), "{text:?}");
            assert!(length_looks_like_json_text(u32::from_ne_bytes(p).into()));
        }
    }

    #[test]
    fn real_frames_and_other_text_are_not() {
        for p in [
            17u32.to_ne_bytes(),                 // a real frame
            (64 * 1024 * 1024u32).to_ne_bytes(), // large but binary
            *b"/hom",                            // text, but not JSON
            *b"\"act",                           // a JSON string is not a request
            [b'{', 0, 0, 0],                     // a real 123-byte frame (little-endian)
        ] {
            assert!(!looks_like_json_text(p), "{p:?}");
        }
        assert!(!length_looks_like_json_text(u64::from(u32::MAX) + 1));
    }
}
