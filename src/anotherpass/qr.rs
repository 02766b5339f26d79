//! The linking QR code: an SVG data URL for the extension, half-block text for a terminal.
//! Error correction level H, as the extension draws it (spec §3.1).

use base64::Engine;
use qrcode::render::{svg, unicode};
use qrcode::{EcLevel, QrCode};

fn code(payload: &str) -> Result<QrCode, qrcode::types::QrError> {
    QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::H)
}

/// `data:image/svg+xml;base64,…`, ready for an `<img src>`.
pub fn svg_data_url(payload: &str) -> Result<String, qrcode::types::QrError> {
    let svg = code(payload)?
        .render::<svg::Color>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

/// Two modules per character cell. `dark_terminal` swaps the colours so the code reads
/// correctly as light-on-dark (scanners expect dark modules on a light background).
pub fn terminal(payload: &str, dark_terminal: bool) -> Result<String, qrcode::types::QrError> {
    let c = code(payload)?;
    let mut r = c.render::<unicode::Dense1x2>();
    r.quiet_zone(true);
    if dark_terminal {
        r.dark_color(unicode::Dense1x2::Light)
            .light_color(unicode::Dense1x2::Dark);
    }
    Ok(r.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &str = "ABC-DEF:MDEyMzQ1Njc4OTo7PD0+Pw==:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

    #[test]
    fn svg_data_url_holds_an_svg() {
        let url = svg_data_url(PAYLOAD).unwrap();
        let b64 = url.strip_prefix("data:image/svg+xml;base64,").unwrap();
        let svg = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let svg = String::from_utf8(svg).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");
    }

    #[test]
    fn level_h_and_square_terminal_rendering() {
        let c = code(PAYLOAD).unwrap();
        assert_eq!(c.error_correction_level(), EcLevel::H);
        let text = terminal(PAYLOAD, true).unwrap();
        let lines: Vec<_> = text.lines().collect();
        // Width = modules + 2×4 quiet zone; height = half of that, rounded up.
        let width = c.width() + 8;
        assert!(lines.iter().all(|l| l.chars().count() == width));
        assert_eq!(lines.len(), width.div_ceil(2));
        assert_ne!(terminal(PAYLOAD, false).unwrap(), text);
    }
}
