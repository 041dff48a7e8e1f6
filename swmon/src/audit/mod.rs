//! The audit stream: the kernel's audit records, parsed and assembled by serial.
