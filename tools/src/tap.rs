//! A Linux TAP device: the Linux endpoint's stand-in for the NDIS miniport's
//! upper edge. Frames the stack sends on it are read here; frames volnic
//! receives are written to it; its carrier follows the volnic link.
//!
//! The only `unsafe` code of the Linux endpoint lives here: two ioctls.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::Command;

/// An open TAP device.
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
}

fn ifreq_for(name: &str, flags: libc::c_int) -> Result<libc::ifreq, String> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || !name.is_ascii() {
        return Err(format!(
            "TAP name {name:?} must be 1 to {} ASCII characters",
            libc::IFNAMSIZ - 1
        ));
    }
    // SAFETY: ifreq is a plain C struct (a name array and a union of
    // integers and arrays); all-zero bytes are a valid value of it.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    ifr.ifr_ifru.ifru_flags = flags as libc::c_short;
    Ok(ifr)
}

impl Tap {
    /// Creates (or attaches to an existing persistent) TAP device `name`,
    /// without packet-information headers, starting with its carrier off.
    pub fn open(name: &str) -> Result<Tap, String> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .map_err(|e| {
                format!("/dev/net/tun: {e}: load the tun module and run as root (or with CAP_NET_ADMIN)")
            })?;
        let ifr = ifreq_for(name, libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_NO_CARRIER)?;
        // SAFETY: TUNSETIFF reads (and may update) one ifreq; `ifr` is a
        // valid, initialised ifreq that outlives the call, and the fd is
        // the open /dev/net/tun file.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &ifr) };
        if rc < 0 {
            return Err(format!(
                "cannot create TAP device {name}: {}: check the name and CAP_NET_ADMIN",
                std::io::Error::last_os_error()
            ));
        }
        Ok(Tap {
            file,
            name: name.to_string(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Turns the carrier on or off (`ip link` shows LOWER_UP or NO-CARRIER).
    pub fn set_carrier(&self, on: bool) -> Result<(), String> {
        let value: libc::c_int = i32::from(on);
        // SAFETY: TUNSETCARRIER reads one int through the pointer; `value`
        // lives across the call; the fd is this TAP's open file.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), libc::TUNSETCARRIER, &value) };
        if rc < 0 {
            return Err(format!(
                "cannot set the carrier of {}: {} (needs Linux 5.0 or later)",
                self.name,
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    /// Another handle on the same device (for the carrier, say, while the
    /// first one blocks in a read).
    pub fn try_clone(&self) -> Result<Tap, String> {
        Ok(Tap {
            file: self.writer()?,
            name: self.name.clone(),
        })
    }

    /// A second handle for the writing side.
    pub fn writer(&self) -> Result<File, String> {
        self.file
            .try_clone()
            .map_err(|e| format!("{}: {e}", self.name))
    }

    /// Reads one frame into `buf`, returning its length.
    pub fn read_frame(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file.read(buf)
    }

    /// Sets MTU and MAC, adds `cidr` if given, and brings the link up (with
    /// iproute2's `ip`).
    pub fn configure(&self, mtu: u32, mac: [u8; 6], cidr: Option<&str>) -> Result<(), String> {
        let mac = mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        let mtu = mtu.to_string();
        ip(&[
            "link", "set", "dev", &self.name, "address", &mac, "mtu", &mtu,
        ])?;
        if let Some(cidr) = cidr {
            ip(&["addr", "replace", cidr, "dev", &self.name])?;
        }
        ip(&["link", "set", "dev", &self.name, "up"])
    }
}

/// Runs iproute2's `ip` with `args`; a failure is one line with its
/// message.
pub(crate) fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip` ({e}): install iproute2"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Writes one frame to the TAP device (one write per frame).
pub fn write_frame(writer: &mut File, frame: &[u8]) -> std::io::Result<()> {
    writer.write_all(frame)
}
