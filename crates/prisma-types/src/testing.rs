//! Helpers for secret-canary tests (feature `testing`): capture everything a process logs, and
//! find JWT-shaped text in it.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A `tracing_subscriber` writer that keeps every byte written, shared by clones.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Installs a process-wide subscriber that records every event of every crate at trace
    /// level into the returned capture. Once per test binary (canary tests get their own).
    #[cfg(feature = "testing")]
    pub fn install_global() -> LogCapture {
        let capture = LogCapture::default();
        let writer = capture.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        capture
    }

    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The first JWT-shaped run in `text`: `eyJ` + base64url, a dot, base64url, a dot, … with the
/// first two parts at least 10 characters long.
pub fn find_jwt(text: &str) -> Option<&str> {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices("eyJ").find_map(|(i, _)| {
        let len: usize = text[i..]
            .chars()
            .take_while(|c| is_b64(*c) || *c == '.')
            .map(char::len_utf8)
            .sum();
        let run = &text[i..i + len];
        let parts: Vec<_> = run.split('.').collect();
        (parts.len() >= 3 && parts[0].len() >= 10 && parts[1].len() >= 10).then_some(run)
    })
}

/// Every file under `dir`, recursively, with its bytes: for "no secret in plaintext in any file".
pub fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
    out
}

/// Whether `needle` occurs in `haystack` (bytes: database pages are not UTF-8).
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jwt_detector_detects() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4eHh4eHh4In0.c2lnbmF0dXJl";
        assert_eq!(find_jwt(&format!("token={jwt} end")), Some(jwt));
        assert_eq!(find_jwt("eyJ is not a token"), None);
        let mut capture = LogCapture::default();
        write!(capture, "hello").unwrap();
        assert_eq!(capture.clone().text(), "hello");
    }
}
