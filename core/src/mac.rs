//! MAC addresses of volnic adapters: the stable default of an adapter and
//! the parser of configured addresses. Shared by the Windows miniport and
//! the Linux endpoint, so one volume pair gets the same kind of address on
//! either.

/// A locally administered unicast MAC that stays the same for an adapter as
/// long as its identity (`seed`, e.g. the send volume path and node id)
/// does. FNV-1a: small, and stable across builds and hosts.
pub fn stable_mac(seed: &[u8]) -> [u8; 6] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in seed {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let b = hash.to_le_bytes();
    // 0x02: locally administered, unicast.
    [(b[0] & 0xfc) | 0x02, b[1], b[2], b[3], b[4], b[5]]
}

/// Parses a unicast MAC written as 12 hex digits, optionally separated by
/// `:` or `-` between every pair (`02:76:6e:00:00:01`, `02-76-…`,
/// `02766e000001`). Multicast (and broadcast) addresses are refused: an
/// adapter's own address must be unicast.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let text = text.trim();
    let mut digits = [0u8; 12];
    let mut n = 0;
    for (i, c) in text.chars().enumerate() {
        if (c == ':' || c == '-') && i % 3 == 2 && text.len() == 17 {
            continue;
        }
        let d = c.to_digit(16)?;
        *digits.get_mut(n)? = d as u8;
        n += 1;
    }
    if n != 12 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, byte) in mac.iter_mut().enumerate() {
        *byte = digits[2 * i] << 4 | digits[2 * i + 1];
    }
    if mac[0] & 1 != 0 || mac == [0; 6] {
        return None;
    }
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_distinct_locally_administered_unicast() {
        let a = stable_mac(b"a");
        assert_eq!(a, stable_mac(b"a"));
        assert_ne!(a, stable_mac(b"b"));
        assert_eq!(a[0] & 0x03, 0x02);
    }

    #[test]
    fn parses_the_usual_spellings() {
        let want = Some([0x02, 0x76, 0x6e, 0x00, 0xab, 0x01]);
        assert_eq!(parse_mac("02:76:6e:00:ab:01"), want);
        assert_eq!(parse_mac("02-76-6E-00-AB-01"), want);
        assert_eq!(parse_mac("02766e00ab01"), want);
    }

    #[test]
    fn refuses_bad_and_multicast() {
        for bad in [
            "",
            "02:76:6e:00:ab",
            "02:76:6e:00:ab:01:02",
            "0g766e00ab01",
            "01:00:5e:00:00:01",
            "ff:ff:ff:ff:ff:ff",
            "00:00:00:00:00:00",
            "02:766e:00:ab:01",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }
}
