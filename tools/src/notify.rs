//! The systemd notification protocol (`sd_notify(3)`), the few lines of it
//! volnic needs: one datagram of `KEY=VALUE` lines to the unix socket named
//! by `$NOTIFY_SOCKET` (a path, or an abstract name written `@name`). With
//! `Type=notify`, `READY=1` tells systemd the service is up, so units
//! ordered after it (`Before=corosync.service`) start only then.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

/// Sends `state` (e.g. `"READY=1\nSTATUS=link up"`) to the socket named by
/// `socket` (`$NOTIFY_SOCKET`'s value).
pub fn notify_to(socket: &str, state: &str) -> io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    if let Some(name) = socket.strip_prefix('@') {
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
            return Ok(());
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = name;
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "abstract sockets are Linux only",
            ));
        }
    }
    sock.send_to(state.as_bytes(), Path::new(socket))?;
    Ok(())
}

/// Sends `state` to systemd when run as a `Type=notify` service; does
/// nothing (and succeeds) otherwise.
pub fn notify(state: &str) -> io::Result<()> {
    match std::env::var("NOTIFY_SOCKET") {
        Ok(socket) if !socket.is_empty() => notify_to(&socket, state),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_reaches_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        notify_to(path.to_str().unwrap(), "READY=1\nSTATUS=link up").unwrap();
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=link up");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_datagram_reaches_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("volnic-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        notify_to(&format!("@{name}"), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_panic() {
        assert!(notify_to("/nonexistent/volnic/notify", "READY=1").is_err());
    }
}
