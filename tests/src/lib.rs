//! Shared helpers of the volnic test harness.

pub mod crashframe;
pub mod faulty;
pub mod hexdump;
pub mod inf;
pub mod memrig;
pub mod node;
pub mod prereq;
pub mod troubleshooting;
pub mod unprivileged;

/// Writes one line of a test's figures to standard error directly, past the
/// test harness's output capture, so the counts a test ran ("kill -9
/// restarts: 300, wrong frames delivered: 0") show in CI's log even when
/// the test passes.
pub fn report_line(line: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// `format!`-style [`report_line`].
#[macro_export]
macro_rules! report {
    ($($arg:tt)*) => {
        $crate::report_line(&format!($($arg)*))
    };
}
