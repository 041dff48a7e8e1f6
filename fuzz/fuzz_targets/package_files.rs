//! The local package file readers (`.deb`, `.rpm`, wheel, sdist, npm
//! tarball, `.gem`) on hostile bytes: the first byte picks the format, the rest is
//! the file. Every answer is an identity or a rejection; no allocation by a
//! length read, no inflation past the caps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use swmon::package_file::{read, Format};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let format = match pick % 6 {
        0 => Format::Deb,
        1 => Format::Rpm,
        2 => Format::Wheel,
        3 => Format::Sdist,
        4 => Format::NpmTarball,
        _ => Format::Gem,
    };
    let _ = read(format, &mut std::io::Cursor::new(file));
});
