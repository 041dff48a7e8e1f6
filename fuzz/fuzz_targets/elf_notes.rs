//! The near-copy reader on hostile bytes: the ELF key and the build-id
//! note reader (`swmon::ebpf::elf`) on a whole file, as the facts stage
//! reads an exec'd near-copy candidate. Every answer is a key, a build ID,
//! none, or a flagged `Malformed`; no allocation by a length read, no read
//! past the per-file cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use swmon::ebpf::elf::{build_id, elf_key, key_of};

fuzz_target!(|data: &[u8]| {
    let _ = elf_key(data);
    let _ = key_of(data);
    if let Ok(Some(id)) = build_id(data, data.len() as u64) {
        assert!(!id.bytes.is_empty() && id.bytes.len() <= swmon::ebpf::elf::BUILD_ID_MAX);
        let _ = id.to_string();
    }
});
