//! Domain names in wire form: lower-case, uncompressed, with the root label.

/// Converts a dotted name (no trailing dot needed) into lower-case uncompressed wire form.
/// Returns `None` when a label is empty or longer than 63 bytes or the name exceeds 255 bytes.
pub fn name_to_wire(name: &str) -> Option<Vec<u8>> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let mut out = Vec::with_capacity(name.len() + 2);
    if !name.is_empty() {
        for label in name.split('.') {
            let l = label.len();
            if l == 0 || l > 63 {
                return None;
            }
            out.push(l as u8);
            out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
    }
    out.push(0);
    (out.len() <= 255).then_some(out)
}

/// Appends `name` in wire form.
pub(super) fn push_name(out: &mut Vec<u8>, name: &str) {
    match name_to_wire(name) {
        Some(w) => out.extend_from_slice(&w),
        // Names are validated before they reach the encoder; the root is a safe fallback.
        None => out.push(0),
    }
}

/// Renders an uncompressed wire name as dotted text (no trailing dot).
pub fn wire_to_text(w: &[u8]) -> String {
    let mut out = String::new();
    let mut pos = 0;
    while pos < w.len() && w[pos] != 0 {
        let l = w[pos] as usize;
        let end = (pos + 1 + l).min(w.len());
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&String::from_utf8_lossy(&w[pos + 1..end]));
        pos = end;
    }
    out
}
