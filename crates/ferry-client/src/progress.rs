//! Progress of transfers, shown as a person or a script wants it.
//!
//! The transfer engine reports events ([`Progress::start`], [`Progress::advance`],
//! [`Progress::finish`]) and does not know how they are shown. On a terminal they become
//! indicatif bars with rate and ETA; otherwise plain lines on stderr (at most one a second,
//! plus the last); or nothing. This module does not measure the elapsed time the REPL prints.

use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Receives the events of one transfer.
pub trait Progress: Send {
    /// A transfer of `name` begins; `total` is its size when known, `already` the bytes a
    /// resumed transfer starts from.
    fn start(&mut self, name: &str, total: Option<u64>, already: u64);
    /// `bytes` more bytes moved.
    fn advance(&mut self, bytes: u64);
    /// The transfer ended, well or not.
    fn finish(&mut self, ok: bool);
}

/// How progress is shown; makes one [`Progress`] per transfer.
#[derive(Clone)]
pub enum ProgressMode {
    /// Nothing.
    Silent,
    /// Plain lines on stderr.
    Lines,
    /// indicatif bars (several at once for parallel transfers).
    Bars(MultiProgress),
}

impl std::fmt::Debug for ProgressMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProgressMode::Silent => "Silent",
            ProgressMode::Lines => "Lines",
            ProgressMode::Bars(_) => "Bars",
        })
    }
}

impl ProgressMode {
    /// Bars drawn on stderr.
    pub fn bars() -> ProgressMode {
        ProgressMode::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
    }

    /// A reporter for one transfer.
    pub fn reporter(&self) -> Box<dyn Progress> {
        match self {
            ProgressMode::Silent => Box::new(Silent),
            ProgressMode::Lines => Box::new(Lines::default()),
            ProgressMode::Bars(multi) => Box::new(Bar {
                multi: multi.clone(),
                bar: None,
            }),
        }
    }
}

/// Shows nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn start(&mut self, _: &str, _: Option<u64>, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self, _: bool) {}
}

/// Plain lines on stderr: `NAME: 1048576/4194304 bytes (25%)`, at most one a second.
#[derive(Debug, Default)]
pub struct Lines {
    name: String,
    total: Option<u64>,
    done: u64,
    last: Option<Instant>,
}

impl Lines {
    fn line(&self) -> String {
        match self.total {
            Some(total) if total > 0 => format!(
                "{}: {}/{} bytes ({}%)",
                self.name,
                self.done,
                total,
                self.done.saturating_mul(100) / total
            ),
            _ => format!("{}: {} bytes", self.name, self.done),
        }
    }
}

impl Progress for Lines {
    fn start(&mut self, name: &str, total: Option<u64>, already: u64) {
        self.name = name.to_string();
        self.total = total;
        self.done = already;
        self.last = Some(Instant::now());
    }

    fn advance(&mut self, bytes: u64) {
        self.done += bytes;
        if self
            .last
            .is_none_or(|last| last.elapsed() >= Duration::from_secs(1))
        {
            self.last = Some(Instant::now());
            let _ = writeln!(std::io::stderr(), "{}", self.line());
        }
    }

    fn finish(&mut self, ok: bool) {
        if ok {
            let _ = writeln!(std::io::stderr(), "{}", self.line());
        }
    }
}

/// An indicatif bar with bytes, rate and ETA.
pub struct Bar {
    multi: MultiProgress,
    bar: Option<ProgressBar>,
}

impl Progress for Bar {
    fn start(&mut self, name: &str, total: Option<u64>, already: u64) {
        // Hidden until added to the MultiProgress: a bar that drew on its own target first
        // would leave that line behind.
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
        let template = if total.is_some() {
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}"
        } else {
            "{msg} {bytes} {bytes_per_sec}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(name.to_string());
        bar.set_position(already);
        bar.reset_eta();
        self.bar = Some(self.multi.add(bar));
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn finish(&mut self, ok: bool) {
        if let Some(bar) = self.bar.take() {
            if ok {
                bar.finish_and_clear();
            } else {
                bar.abandon();
            }
            self.multi.remove(&bar);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_text() {
        let mut lines = Lines::default();
        lines.start("a.bin", Some(400), 100);
        lines.done += 100;
        assert_eq!(lines.line(), "a.bin: 200/400 bytes (50%)");
        lines.total = None;
        assert_eq!(lines.line(), "a.bin: 200 bytes");
    }
}
