//! Colours: only when the stream is a terminal, never with NO_COLOR (https://no-color.org:
//! set and not empty) or TERM=dumb.

use std::io::IsTerminal;

#[derive(Copy, Clone, Debug)]
pub struct Style {
    pub on: bool,
}

/// Whether the environment allows colours at all.
pub fn env_allows_colour() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    !no_color && !dumb
}

impl Style {
    /// For standard output.
    pub fn stdout() -> Style {
        Style {
            on: std::io::stdout().is_terminal() && env_allows_colour(),
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("1;31", s)
    }
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }

    /// A verdict, padded to `width` before colouring (so tables stay aligned).
    pub fn verdict(&self, v: &str, width: usize) -> String {
        let padded = format!("{v:<width$}");
        if v.starts_with("verified") {
            self.green(&padded)
        } else if v.starts_with("violation") {
            self.red(&padded)
        } else if v.starts_with("incomplete") {
            self.yellow(&padded)
        } else {
            padded
        }
    }
}
