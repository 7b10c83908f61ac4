//! The application at both ends of the restart tests: `send ADDR:PORT
//! INTERVAL_US` sends numbered UDP datagrams (an 8-byte little-endian
//! sequence number, padded to 64 bytes) until killed, ignoring send errors
//! (the link may be down); `recv PORT` prints the number of every datagram
//! it receives, one per line, flushed at once, so a test can count them and
//! find any received twice.

use std::io::Write;
use std::net::UdpSocket;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("send") if args.len() == 4 => send(&args[2], &args[3]),
        Some("recv") if args.len() == 3 => recv(&args[2]),
        _ => Err("usage: volnic-datagrams send ADDR:PORT INTERVAL_US | recv PORT".into()),
    };
    if let Err(e) = result {
        eprintln!("volnic-datagrams: {e}");
        std::process::exit(2);
    }
}

fn send(to: &str, interval_us: &str) -> Result<(), String> {
    let interval: u64 = interval_us
        .parse()
        .map_err(|_| format!("interval {interval_us} is not a number of µs"))?;
    let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    let mut payload = [0u8; 64];
    for seq in 0u64.. {
        payload[..8].copy_from_slice(&seq.to_le_bytes());
        // The link may be down (an endpoint restarting): lost, not retried.
        let _ = socket.send_to(&payload, to);
        std::thread::sleep(Duration::from_micros(interval));
    }
    Ok(())
}

fn recv(port: &str) -> Result<(), String> {
    let socket = UdpSocket::bind(format!("0.0.0.0:{port}")).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 2048];
    let stdout = std::io::stdout();
    loop {
        let (len, _) = socket.recv_from(&mut buf).map_err(|e| e.to_string())?;
        if len < 8 {
            continue;
        }
        let seq = u64::from_le_bytes(buf[..8].try_into().unwrap_or_default());
        let mut out = stdout.lock();
        writeln!(out, "{seq}").map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
}
