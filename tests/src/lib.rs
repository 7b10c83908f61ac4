//! Shared helpers of the volnic test harness.

pub mod crashframe;
pub mod faulty;
pub mod hexdump;
pub mod inf;
pub mod memrig;
pub mod node;
pub mod unprivileged;
