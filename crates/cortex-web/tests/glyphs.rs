//! Every character the pages can show renders with common fonts: the templates, the
//! stylesheet and scripts, and the page code hold ASCII plus three punctuation marks that
//! every common font carries (they are in Windows Glyph List 4, which Arial, Helvetica,
//! Segoe UI, Roboto and DejaVu all cover). Status icons are drawn by the stylesheet
//! (`class="icon i-…"`), never taken from a font.

use std::path::Path;

/// — (U+2014), · (U+00B7), … (U+2026).
const ALLOWED: [char; 3] = ['\u{2014}', '\u{00B7}', '\u{2026}'];

#[test]
fn pages_use_no_glyph_that_common_fonts_lack() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    let mut files = 0;
    for dir in ["templates", "assets", "src/pages"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            files += 1;
            for (n, line) in text.lines().enumerate() {
                for c in line.chars() {
                    if !c.is_ascii() && !ALLOWED.contains(&c) {
                        found.push(format!(
                            "{}:{}: {c:?} (U+{:04X})",
                            path.display(),
                            n + 1,
                            c as u32
                        ));
                    }
                }
            }
        }
    }
    assert!(files > 20, "only {files} files read");
    assert!(
        found.is_empty(),
        "glyphs common fonts may lack:\n{}",
        found.join("\n")
    );
}
