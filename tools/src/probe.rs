//! What `volnic demo --netns` and the namespace tests measure between two
//! network namespaces, done by volnic itself rather than by `ping` or
//! `iperf`, so that nothing beyond iproute2 needs installing:
//!
//! - [`ping`]: ICMP echo on a raw socket; the peer's kernel answers, as it
//!   answers the `ping` program;
//! - [`one_way_latency`]: UDP probes between two threads of this process,
//!   one in each namespace. They read the same monotonic clock, so each
//!   direction's latency is measured, not estimated as half a round trip;
//! - [`tcp_throughput`]: one TCP connection between the namespaces, a
//!   known byte pattern checked on arrival.
//!
//! A socket belongs to the network namespace of the thread that created it,
//! and keeps it wherever it is used afterwards; [`in_netns`] creates
//! sockets on a short-lived thread that has entered the namespace.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Where `ip netns add` leaves its namespaces.
const NETNS_DIR: &str = "/run/netns";

/// Runs `f` on a thread that has entered the network namespace `ns` (a
/// name given to `ip netns add`) and returns what it returns. Sockets `f`
/// creates belong to that namespace; the caller's thread stays where it is.
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> io::Result<T> + Send) -> Result<T, String> {
    let path = Path::new(NETNS_DIR).join(ns);
    let file = File::open(&path)
        .map_err(|e| format!("network namespace {ns}: {}: {e}", path.display()))?;
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns reads only the descriptor, which `file` keeps
            // open for the call; it moves this thread alone into the
            // namespace, and the thread ends when `f` returns.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(format!(
                    "cannot enter network namespace {ns}: {}",
                    io::Error::last_os_error()
                ));
            }
            f().map_err(|e| format!("in network namespace {ns}: {e}"))
        })
        .join()
        .unwrap_or_else(|_| Err(format!("a thread in network namespace {ns} panicked")))
    })
}

/// The outcome of one [`ping`] run.
#[derive(Clone, Debug, PartialEq)]
pub struct PingResult {
    pub transmitted: u32,
    pub received: u32,
    /// min / avg / max round trip in ms, when any reply came.
    pub rtt_ms: Option<(f64, f64, f64)>,
}

impl PingResult {
    pub fn loss_percent(&self) -> f64 {
        f64::from(self.transmitted - self.received.min(self.transmitted)) * 100.0
            / f64::from(self.transmitted.max(1))
    }
}

/// ICMP echo request `id`/`seq` with `payload`, checksum filled in.
pub fn echo_request(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut packet = vec![8, 0, 0, 0];
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(payload);
    let sum = internet_checksum(&packet);
    packet[2..4].copy_from_slice(&sum.to_be_bytes());
    packet
}

/// RFC 1071 checksum; 0 over a packet whose checksum field is right.
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP echo reply as a raw IPv4 socket receives it (IP header first):
/// source address, id and sequence, or `None` for anything else.
pub fn parse_echo_reply(packet: &[u8]) -> Option<(Ipv4Addr, u16, u16)> {
    let ihl = usize::from(*packet.first()? & 0x0f) * 4;
    if packet[0] >> 4 != 4 || ihl < 20 || packet.get(9) != Some(&1) {
        return None;
    }
    let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let icmp = packet.get(ihl..)?;
    if icmp.len() < 8 || icmp[0] != 0 || icmp[1] != 0 || internet_checksum(icmp) != 0 {
        return None;
    }
    let id = u16::from_be_bytes([icmp[4], icmp[5]]);
    let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
    Some((src, id, seq))
}

/// Echo ids of this process's pings, so concurrent runs tell their replies
/// apart.
static NEXT_ID: AtomicU16 = AtomicU16::new(0);

/// Sends `count` ICMP echo requests from namespace `ns` to `peer`, one
/// every `interval`, and waits up to `wait` after the last for replies
/// (what `ping -c count -i interval -W wait` does). Needs CAP_NET_RAW in
/// the namespace (root).
pub fn ping(
    ns: &str,
    peer: Ipv4Addr,
    count: u32,
    interval: Duration,
    wait: Duration,
) -> Result<PingResult, String> {
    let socket = in_netns(ns, || {
        Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
    })
    .map_err(|e| format!("cannot open an ICMP socket (needs root): {e}"))?;
    let id = (std::process::id() as u16)
        .wrapping_mul(31)
        .wrapping_add(NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let to = SockAddr::from(SocketAddrV4::new(peer, 0));
    let payload: Vec<u8> = (0..56u8).collect();
    let count = count.min(u32::from(u16::MAX));
    let mut sent_at: Vec<Option<Instant>> = vec![None; count as usize];
    let mut rtts: Vec<f64> = Vec::new();
    let start = Instant::now();
    let mut buf = [0u8; 1500];
    for seq in 0..=count {
        // Before sending `seq` (or, after the last, until `wait` is over),
        // take the replies that arrive.
        let until = if seq < count {
            start + interval * seq
        } else {
            Instant::now() + wait
        };
        loop {
            if seq == count && sent_at.iter().all(Option::is_none) {
                break;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            socket
                .set_read_timeout(Some(left))
                .map_err(|e| format!("ICMP socket: {e}"))?;
            let n = match (&socket).read(&mut buf) {
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("receiving ICMP replies: {e}")),
            };
            let Some((src, reply_id, reply_seq)) = parse_echo_reply(&buf[..n]) else {
                continue;
            };
            if src != peer || reply_id != id {
                continue;
            }
            if let Some(sent) = sent_at
                .get_mut(usize::from(reply_seq))
                .and_then(Option::take)
            {
                rtts.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
        }
        if seq < count {
            let packet = echo_request(id, seq as u16, &payload);
            // A request that cannot be sent (no ARP answer yet:
            // EHOSTUNREACH) counts as sent and lost, as with ping.
            if socket.send_to(&packet, &to).is_ok() {
                sent_at[seq as usize] = Some(Instant::now());
            }
        }
    }
    let rtt_ms = (!rtts.is_empty()).then(|| {
        let min = rtts.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rtts.iter().copied().fold(0.0, f64::max);
        (min, rtts.iter().sum::<f64>() / rtts.len() as f64, max)
    });
    Ok(PingResult {
        transmitted: count,
        received: rtts.len() as u32,
        rtt_ms,
    })
}

/// p50 / p99 / max of a set of samples, in µs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Spread {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Spread {
    /// `None` for no samples.
    pub fn of(samples: &mut [f64]) -> Option<Spread> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Some(Spread {
            p50: at(0.5),
            p99: at(0.99),
            max: samples[samples.len() - 1],
        })
    }
}

/// One-way latency both ways between two namespaces.
#[derive(Clone, Debug, PartialEq)]
pub struct OneWay {
    pub sent: u32,
    /// Probes whose answer came back (both directions measured).
    pub answered: u32,
    /// From the first namespace to the second, µs.
    pub forward_us: Spread,
    /// From the second back to the first, µs.
    pub back_us: Spread,
}

/// Bytes of a probe: sequence (u32), sent (u64 ns), and in the answer the
/// arrival and answer times at the peer (u64 ns each).
const PROBE_LEN: usize = 28;

fn nanos(base: Instant) -> u64 {
    base.elapsed().as_nanos() as u64
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_be_bytes(b)
}

/// Sends `count` UDP probes, one every `interval`, from `from` in
/// namespace `ns[0]` to an answering thread at `to` in `ns[1]`, and
/// measures each direction's one-way latency on the clock both threads
/// share.
pub fn one_way_latency(
    ns: [&str; 2],
    from: Ipv4Addr,
    to: Ipv4Addr,
    count: u32,
    interval: Duration,
) -> Result<OneWay, String> {
    let server = in_netns(ns[1], || UdpSocket::bind((to, 0)))?;
    let server_addr = server.local_addr().map_err(|e| e.to_string())?;
    let client = in_netns(ns[0], || {
        let s = UdpSocket::bind((from, 0))?;
        s.connect(server_addr)?;
        Ok(s)
    })?;
    server
        .set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| e.to_string())?;
    let base = Instant::now();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut buf = [0u8; 64];
            while !done.load(Ordering::Relaxed) {
                let Ok((n, peer)) = server.recv_from(&mut buf) else {
                    continue;
                };
                let arrived = nanos(base);
                if n != PROBE_LEN {
                    continue;
                }
                buf[12..20].copy_from_slice(&arrived.to_be_bytes());
                buf[20..28].copy_from_slice(&nanos(base).to_be_bytes());
                let _ = server.send_to(&buf[..PROBE_LEN], peer);
            }
        });
        let result = probe_loop(&client, base, count, interval);
        done.store(true, Ordering::Relaxed);
        result
    })
}

fn probe_loop(
    client: &UdpSocket,
    base: Instant,
    count: u32,
    interval: Duration,
) -> Result<OneWay, String> {
    let mut answered = vec![false; count as usize];
    let (mut forward, mut back) = (Vec::new(), Vec::new());
    let start = Instant::now();
    let mut buf = [0u8; 64];
    for seq in 0..=count {
        let until = if seq < count {
            start + interval * seq
        } else {
            Instant::now() + Duration::from_secs(2)
        };
        loop {
            if seq == count && forward.len() == count as usize {
                break;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            client
                .set_read_timeout(Some(left))
                .map_err(|e| e.to_string())?;
            let n = match client.recv(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // Timed out, or an ICMP error for a probe the peer did not
                // take yet (ECONNREFUSED): wait for the next.
                Err(_) => break,
            };
            let now = nanos(base);
            if n != PROBE_LEN {
                continue;
            }
            let got = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
            if got >= answered.len() || answered[got] {
                continue;
            }
            answered[got] = true;
            let (sent, arrived, answered_at) =
                (u64_at(&buf, 4), u64_at(&buf, 12), u64_at(&buf, 20));
            forward.push(arrived.saturating_sub(sent) as f64 / 1000.0);
            back.push(now.saturating_sub(answered_at) as f64 / 1000.0);
        }
        if seq < count {
            let mut probe = [0u8; PROBE_LEN];
            probe[0..4].copy_from_slice(&seq.to_be_bytes());
            probe[4..12].copy_from_slice(&nanos(base).to_be_bytes());
            // A probe that cannot be sent is a probe lost.
            let _ = client.send(&probe);
        }
    }
    let answered = forward.len() as u32;
    Ok(OneWay {
        sent: count,
        answered,
        forward_us: Spread::of(&mut forward).unwrap_or_default(),
        back_us: Spread::of(&mut back).unwrap_or_default(),
    })
}

/// What one TCP connection carried.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throughput {
    /// Bytes the receiver read, every one of them as sent.
    pub bytes: u64,
    /// From the connection's acceptance to the sender's end of stream.
    pub seconds: f64,
}

impl Throughput {
    /// Megabytes (10^6 bytes) per second.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / self.seconds.max(1e-9) / 1e6
    }
}

/// The byte at `offset` of the throughput stream: a pattern that a lost,
/// repeated or reordered segment would break.
fn pattern(offset: u64) -> u8 {
    (offset % 251) as u8
}

/// Sends the pattern stream for `duration` over one TCP connection from
/// `from` in `ns[0]` to a listener at `to` in `ns[1]`; the receiver checks
/// every byte.
pub fn tcp_throughput(
    ns: [&str; 2],
    from: Ipv4Addr,
    to: Ipv4Addr,
    duration: Duration,
) -> Result<Throughput, String> {
    let listener = in_netns(ns[1], || TcpListener::bind((to, 0)))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    std::thread::scope(|s| {
        let receiver = s.spawn(|| receive_pattern(&listener));
        let sent = send_pattern(ns[0], from, addr, duration);
        let received = receiver
            .join()
            .unwrap_or_else(|_| Err("the TCP receiver panicked".into()));
        let sent = sent?;
        let got = received?;
        if got.bytes != sent {
            return Err(format!("TCP: {sent} bytes sent but {} received", got.bytes));
        }
        Ok(got)
    })
}

fn send_pattern(
    ns: &str,
    from: Ipv4Addr,
    to: SocketAddr,
    duration: Duration,
) -> Result<u64, String> {
    let mut stream = in_netns(ns, || {
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        s.bind(&SockAddr::from(SocketAddrV4::new(from, 0)))?;
        s.connect_timeout(&SockAddr::from(to), Duration::from_secs(10))?;
        Ok(TcpStream::from(s))
    })
    .map_err(|e| format!("TCP connect to {to}: {e}"))?;
    stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    const CHUNK: u64 = 64 * 1024;
    // 251 does not divide the chunk size, so each chunk starts at another
    // phase of the pattern: keep one period's worth of rotations at hand.
    let period: Vec<u8> = (0..CHUNK + 251).map(pattern).collect();
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < duration {
        let phase = (sent % 251) as usize;
        stream
            .write_all(&period[phase..phase + CHUNK as usize])
            .map_err(|e| format!("TCP send after {sent} bytes: {e}"))?;
        sent += CHUNK;
    }
    stream
        .shutdown(Shutdown::Write)
        .map_err(|e| format!("TCP shutdown: {e}"))?;
    Ok(sent)
}

fn receive_pattern(listener: &TcpListener) -> Result<Throughput, String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("TCP accept: {e}")),
        }
    };
    let start = Instant::now();
    stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(Duration::from_secs(20))))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("TCP receive after {bytes} bytes: {e}")),
        };
        if let Some(bad) = (0..n).find(|&i| buf[i] != pattern(bytes + i as u64)) {
            return Err(format!("TCP stream altered at byte {}", bytes + bad as u64));
        }
        bytes += n as u64;
    }
    Ok(Throughput {
        bytes,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_requests_carry_a_valid_checksum() {
        let p = echo_request(0x1234, 7, &[1, 2, 3]);
        assert_eq!(&p[..2], &[8, 0]);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
        assert_eq!(internet_checksum(&p), 0);
        // RFC 1071's example: 0001 f203 f4f5 f6f7 sums to ddf2.
        assert_eq!(
            internet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
    }

    #[test]
    fn echo_replies_are_recognised_and_nothing_else() {
        let mut reply = echo_request(0xbeef, 3, b"payload");
        reply[0] = 0;
        reply[2..4].copy_from_slice(&[0, 0]);
        let sum = internet_checksum(&reply);
        reply[2..4].copy_from_slice(&sum.to_be_bytes());
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 169, 254, 77, 2, 169, 254, 77, 1,
        ];
        ip.extend_from_slice(&reply);
        assert_eq!(
            parse_echo_reply(&ip),
            Some((Ipv4Addr::new(169, 254, 77, 2), 0xbeef, 3))
        );
        // A request, a bad checksum, another protocol, a short packet.
        let mut request = ip.clone();
        request[20] = 8;
        assert_eq!(parse_echo_reply(&request), None);
        let mut corrupt = ip.clone();
        corrupt[30] ^= 1;
        assert_eq!(parse_echo_reply(&corrupt), None);
        let mut udp = ip.clone();
        udp[9] = 17;
        assert_eq!(parse_echo_reply(&udp), None);
        assert_eq!(parse_echo_reply(&ip[..24]), None);
    }

    #[test]
    fn spreads_and_losses() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = Spread::of(&mut v).unwrap();
        assert_eq!((s.p50, s.p99, s.max), (51.0, 99.0, 100.0));
        assert_eq!(Spread::of(&mut []), None);
        let r = PingResult {
            transmitted: 200,
            received: 198,
            rtt_ms: None,
        };
        assert!((r.loss_percent() - 1.0).abs() < 1e-9);
        assert!(
            (Throughput {
                bytes: 2_000_000,
                seconds: 2.0
            }
            .mb_per_s()
                - 1.0)
                .abs()
                < 1e-9
        );
    }

    #[test]
    fn the_stream_pattern_is_continuous_across_chunks() {
        let chunk = 64 * 1024u64;
        let period: Vec<u8> = (0..chunk + 251).map(pattern).collect();
        let sent = 3 * chunk;
        let phase = (sent % 251) as usize;
        assert_eq!(period[phase], pattern(sent));
        assert_eq!(period[phase + 100], pattern(sent + 100));
    }
}
