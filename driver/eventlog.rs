//! The system event log: writing one line about an adapter there (and to
//! the trace), and fitting a message into one event-log entry.
//!
//! `NdisWriteEventLogEntry` takes insertion strings and data that together
//! must fit in `ERROR_LOG_MAXIMUM_SIZE - sizeof(IO_ERROR_LOG_PACKET)` bytes
//! (both from wdk-sys in `driver/windows.rs`); NDIS refuses a longer entry
//! whole. The message is cut to fit instead, never dropped, and never
//! between the two halves of a UTF-16 surrogate pair. The fitting is
//! portable and pure, so it is tested on every host.

use alloc::format;
use alloc::vec::Vec;
use core::ffi::c_void;

use crate::datapath::trace_line;
use crate::ndis::*;
use crate::ndis_api::Platform;

/// Writes why the adapter failed to the trace and the system event log.
pub(crate) fn report_failure<P: Platform>(driver_object: *mut c_void, reason: &str) {
    report_event::<P>(driver_object, &format!("adapter disabled: {reason}"));
}

/// Writes one line about the adapter to the trace and the system event
/// log; a line the event log refuses is traced with the status.
pub(crate) fn report_event<P: Platform>(driver_object: *mut c_void, line: &str) {
    trace_line::<P>(format_args!("volnic: {line}"));
    let mut message: Vec<u16> = "volnic: "
        .encode_utf16()
        .chain(line.encode_utf16())
        .collect();
    message.push(0);
    // SAFETY: `message` is NUL-terminated UTF-16 that lives across the call.
    let status =
        unsafe { P::write_event_log(driver_object, NDIS_STATUS_FAILURE, message.as_ptr()) };
    if status != NDIS_STATUS_SUCCESS {
        trace_line::<P>(format_args!(
            "volnic: the event log refused the line above ({status:#x})"
        ));
    }
}

/// How many leading code units of `units` (a message without its NUL) to
/// keep so that they and the terminating NUL take at most `limit_bytes`
/// bytes. Never splits a surrogate pair; 0 when not even one unit fits.
pub fn fitting_units(units: &[u16], limit_bytes: usize) -> usize {
    // Room for the NUL first.
    let room = (limit_bytes / 2).saturating_sub(1);
    if units.len() <= room {
        return units.len();
    }
    let mut keep = room;
    // A high surrogate as the last kept unit would lose its low half.
    if keep > 0 && (0xD800..0xDC00).contains(&units[keep - 1]) {
        keep -= 1;
    }
    keep
}

/// Copies the part of `units` that fits `limit_bytes` (with its NUL) into
/// `out`, NUL-terminated, and returns the number of message units copied.
/// `out` must hold at least one unit; a message longer than `out` is cut to
/// `out` as well.
pub fn fit_into(units: &[u16], limit_bytes: usize, out: &mut [u16]) -> usize {
    let Some(out_room) = out.len().checked_sub(1) else {
        return 0;
    };
    let limit = limit_bytes.min(out.len().saturating_mul(2));
    let keep = fitting_units(units, limit).min(out_room);
    for (dst, src) in out.iter_mut().zip(units.iter().take(keep)) {
        *dst = *src;
    }
    if let Some(nul) = out.get_mut(keep) {
        *nul = 0;
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn utf16(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn a_short_message_is_kept_whole() {
        let m = utf16("volnic: registry value SendVolume is missing");
        assert_eq!(fitting_units(&m, 192), m.len());
        // Exactly fitting: 10 units + NUL = 22 bytes.
        assert_eq!(fitting_units(&m[..10], 22), 10);
        assert_eq!(fitting_units(&m[..10], 21), 9);
    }

    #[test]
    fn a_long_message_is_cut_to_the_limit_with_room_for_the_nul() {
        let m = utf16(&"x".repeat(500));
        let keep = fitting_units(&m, 192);
        assert_eq!(keep, 95);
        assert!((keep + 1) * 2 <= 192);
        // An odd limit rounds down.
        assert_eq!(fitting_units(&m, 193), 95);
    }

    #[test]
    fn a_surrogate_pair_is_never_split() {
        // 94 ASCII units, then U+1F600 (two units) straddling the cut at 95.
        let mut s = "a".repeat(94);
        s.push('\u{1F600}');
        s.push_str("tail");
        let m = utf16(&s);
        assert!((0xD800..0xDC00).contains(&m[94]));
        let keep = fitting_units(&m, 192);
        assert_eq!(
            keep, 94,
            "the high surrogate is not kept without its low half"
        );
        let text = String::from_utf16(&m[..keep]).expect("valid UTF-16");
        assert_eq!(text, "a".repeat(94));
        // With room for both halves both stay.
        assert_eq!(fitting_units(&m, 194), 96);
        assert!(String::from_utf16(&m[..96]).is_ok());
    }

    #[test]
    fn no_room_keeps_nothing() {
        let m = utf16("abc");
        assert_eq!(fitting_units(&m, 0), 0);
        assert_eq!(fitting_units(&m, 2), 0);
        assert_eq!(fitting_units(&m, 3), 0);
        assert_eq!(fitting_units(&m, 4), 1);
    }

    #[test]
    fn fit_into_copies_and_terminates() {
        let m = utf16(&"y".repeat(300));
        let mut out = vec![0xFFFF_u16; 96];
        let keep = fit_into(&m, 192, &mut out);
        assert_eq!(keep, 95);
        assert_eq!(out[95], 0);
        assert!(out[..95].iter().all(|&u| u == u16::from(b'y')));
        // A buffer smaller than the limit bounds the copy too.
        let mut small = [0xFFFF_u16; 4];
        assert_eq!(fit_into(&m, 192, &mut small), 3);
        assert_eq!(small, [0x79, 0x79, 0x79, 0]);
        // An empty buffer gets nothing and is not written.
        assert_eq!(fit_into(&m, 192, &mut []), 0);
    }
}
