//! Host simulation of NDIS and the kernel for the volnic miniport (being written).
