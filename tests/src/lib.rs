//! Shared helpers of the volnic test harness.
