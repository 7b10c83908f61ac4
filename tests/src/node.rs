//! One end of a link driven by the test with simulated time.

use volnic_core::{Link, LinkConfig, LinkError, PollReport, QueueError, SendQueue, Volume};

/// A link end with its volumes, send queue and the frames it received.
pub struct Node<S: Volume, R: Volume> {
    pub link: Link,
    pub send: S,
    pub recv: R,
    pub queue: SendQueue,
    pub delivered: Vec<Vec<u8>>,
    pub last_report: PollReport,
}

impl<S: Volume, R: Volume> Node<S, R> {
    /// Opens a link end at time `now_us`.
    pub fn open(
        cfg: LinkConfig,
        mut send: S,
        mut recv: R,
        now_us: u64,
        queue_bytes: usize,
    ) -> Result<Self, LinkError> {
        let link = Link::open(cfg, &mut send, &mut recv, now_us, 0)?;
        let queue = SendQueue::new(queue_bytes, link.block_payload());
        Ok(Self {
            link,
            send,
            recv,
            queue,
            delivered: Vec::new(),
            last_report: PollReport::default(),
        })
    }

    /// Queues a frame, counting a drop when the queue is full.
    pub fn send_frame(&mut self, frame: &[u8]) -> Result<(), QueueError> {
        match self.queue.push(frame) {
            Ok(_) => Ok(()),
            Err(e) => {
                if e == QueueError::Full {
                    self.link.count_queue_full();
                }
                Err(e)
            }
        }
    }

    /// One datapath iteration: pack, then poll.
    pub fn step(&mut self, now_us: u64) -> Result<PollReport, LinkError> {
        self.link.pack(&mut self.queue, now_us);
        let delivered = &mut self.delivered;
        let report = self.link.poll(
            now_us,
            &mut self.send,
            &mut self.recv,
            &mut |frame: &[u8]| delivered.push(frame.to_vec()),
        )?;
        self.last_report = report;
        Ok(report)
    }
}

/// A frame whose content identifies it: `id` in the first 8 bytes after a
/// 14-byte Ethernet-like header, then a pattern derived from the id.
pub fn numbered_frame(id: u64, len: usize) -> Vec<u8> {
    let len = len.max(22);
    let mut frame = vec![0u8; len];
    frame[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
    frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    frame[12..14].copy_from_slice(&[0x88, 0xb5]);
    frame[14..22].copy_from_slice(&id.to_le_bytes());
    for (i, b) in frame[22..].iter_mut().enumerate() {
        *b = (id as usize).wrapping_mul(31).wrapping_add(i) as u8;
    }
    frame
}

/// The id of a frame built by [`numbered_frame`], if it is intact.
pub fn frame_id(frame: &[u8]) -> Option<u64> {
    let id = u64::from_le_bytes(frame.get(14..22)?.try_into().ok()?);
    (numbered_frame(id, frame.len()) == frame).then_some(id)
}
