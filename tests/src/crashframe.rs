//! Frames of the crash-consistency test: each names the sender's run (one
//! per start of the streamer) and its number in that run, and ends with a
//! checksum of everything before it, so a receiver can tell a corrupted,
//! repeated, reordered or stale frame from a good one.

/// Offsets inside a frame.
const RUN: usize = 14; // u32
const NUMBER: usize = 18; // u64
const LEN: usize = 26; // u16, the frame's own length
const BODY: usize = 28;
const CHECKSUM_LEN: usize = 8; // u64 FNV-1a of the bytes before it

/// Frame `n` of run `run`: 64 to 1514 bytes, its length and contents
/// following from (run, n).
pub fn frame(run: u32, n: u64) -> Vec<u8> {
    let len = 64 + ((n.wrapping_mul(2_654_435_761) ^ u64::from(run)) % 1451) as usize;
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&[0x02, 0x76, 0x6e, 0, 0, 2]);
    f[6..12].copy_from_slice(&[0x02, 0x76, 0x6e, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f[RUN..NUMBER].copy_from_slice(&run.to_le_bytes());
    f[NUMBER..LEN].copy_from_slice(&n.to_le_bytes());
    f[LEN..BODY].copy_from_slice(&(len as u16).to_le_bytes());
    let body_end = len - CHECKSUM_LEN;
    for (i, b) in f[BODY..body_end].iter_mut().enumerate() {
        *b = (n as usize).wrapping_mul(7).wrapping_add(i * 13) as u8 ^ run as u8;
    }
    let sum = fnv1a(&f[..body_end]);
    f[body_end..].copy_from_slice(&sum.to_le_bytes());
    f
}

/// (run, number) of an intact frame; `None` if its length or checksum is
/// wrong.
pub fn parse(f: &[u8]) -> Option<(u32, u64)> {
    if f.len() < BODY + CHECKSUM_LEN {
        return None;
    }
    let len = usize::from(u16::from_le_bytes([f[LEN], f[LEN + 1]]));
    if len != f.len() {
        return None;
    }
    let body_end = len - CHECKSUM_LEN;
    let sum = u64::from_le_bytes(f[body_end..].try_into().ok()?);
    if sum != fnv1a(&f[..body_end]) {
        return None;
    }
    let run = u32::from_le_bytes(f[RUN..NUMBER].try_into().ok()?);
    let n = u64::from_le_bytes(f[NUMBER..LEN].try_into().ok()?);
    Some((run, n))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_any_damage_is_seen() {
        for n in 0..200 {
            let f = frame(3, n);
            assert_eq!(parse(&f), Some((3, n)));
            for at in [0, RUN, NUMBER + 3, LEN, BODY, f.len() - 1] {
                let mut bad = f.clone();
                bad[at] ^= 0x20;
                assert_eq!(parse(&bad), None, "byte {at} of frame {n}");
            }
            assert_eq!(parse(&f[..f.len() - 1]), None);
        }
    }
}
