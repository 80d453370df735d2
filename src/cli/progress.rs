//! Progress display on a terminal: a line on stderr refreshed a few times a
//! second, only when stderr is a terminal and neither `--quiet` nor `--json`
//! was given, so scripts and logs never see it.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::archiver::BackupProgress;
use crate::restore::RestoreProgress;

/// A running display; finishing or dropping it clears the line.
pub struct Display {
    bar: ProgressBar,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Display {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.bar.finish_and_clear();
    }
}

/// Whether to show progress at all.
pub fn wanted(quiet: bool, json: bool) -> bool {
    !quiet && !json && std::io::stderr().is_terminal()
}

fn run(bar: ProgressBar, mut tick: impl FnMut(&ProgressBar) + Send + 'static) -> Display {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let b = bar.clone();
    let thread = std::thread::spawn(move || {
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            rx.recv_timeout(Duration::from_millis(200))
        {
            tick(&b);
        }
    });
    Display {
        bar,
        stop: Some(tx),
        thread: Some(thread),
    }
}

/// Shows files and bytes of a running backup.
pub fn backup(progress: Arc<BackupProgress>) -> Display {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    run(bar, move |b| {
        b.set_message(format!(
            "{} files, {} read of {} seen, {} unreadable",
            progress.files(),
            HumanBytes(progress.bytes_read.load(Ordering::Relaxed)),
            HumanBytes(progress.total_bytes.load(Ordering::Relaxed)),
            progress.unreadable.load(Ordering::Relaxed)
        ));
        b.tick();
    })
}

/// Shows bytes written of a running restore against the total.
pub fn restore(progress: Arc<RestoreProgress>) -> Display {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    // Hidden until the plan is made and the total is known.
    bar.set_draw_target(ProgressDrawTarget::hidden());
    run(bar, move |b| {
        let total = progress.total.load(Ordering::Relaxed);
        if total > 0 && b.is_hidden() {
            b.set_draw_target(ProgressDrawTarget::stderr());
        }
        b.set_length(total);
        b.set_position(progress.done.load(Ordering::Relaxed));
    })
}
