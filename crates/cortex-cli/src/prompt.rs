//! Questions to the person at the terminal — asked only with `--interactive`; without it no
//! command ever waits for input.

use std::io::{BufRead, Write};

/// Asks on stderr, reads one line from stdin; `y` or `yes` is yes, anything else (EOF too) no.
pub fn confirm(question: &str) -> bool {
    answer(question).is_some_and(|a| matches!(a.to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// Asks on stderr and returns the trimmed line read from stdin (`None` at EOF).
pub fn answer(question: &str) -> Option<String> {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim().to_owned()),
    }
}
