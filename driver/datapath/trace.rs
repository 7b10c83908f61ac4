//! The driver's trace: one line a call, to the kernel debugger output
//! (DbgPrintEx on Windows, captured by the simulation in tests), and the
//! text of what the datapath loop reports. What an administrator must see
//! goes to the event log too (`crate::eventlog`).

use volnic_core::datapath::Event;

use crate::ndis_api::Platform;

/// Formats one trace line without allocating more than the line.
pub fn trace_line<P: Platform>(args: core::fmt::Arguments<'_>) {
    let line = alloc::fmt::format(args);
    P::trace(&line);
}

/// Traces what the datapath loop reports. Why the link carries nothing,
/// and a peer that judges liveness by another clock, are traced once when
/// they appear or change (the Linux endpoint shows the same in `volnic
/// status`); their clearing is not traced.
pub fn trace_event<P: Platform>(event: &Event<'_>) {
    match event {
        Event::WriteFailed(e) => {
            trace_line::<P>(format_args!("volnic: send volume write failed: {e}"));
        }
        Event::DownReasonChanged(Some(reason)) => {
            trace_line::<P>(format_args!("volnic: link down: {reason}"));
        }
        Event::TimeoutMismatchChanged(Some(mismatch)) => {
            trace_line::<P>(format_args!("volnic: {mismatch}"));
        }
        Event::DownReasonChanged(None) | Event::TimeoutMismatchChanged(None) => {}
        Event::Stopped(e) => trace_line::<P>(format_args!("volnic: link stopped: {e}")),
        Event::ShutdownFailed(e) => {
            trace_line::<P>(format_args!("volnic: shutdown record not written: {e}"));
        }
    }
}
