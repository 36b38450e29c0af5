//! The JPEG decoder: see `imgh_fuzz::decode`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| imgh_fuzz::decode(imgh_handler::codec::Format::Jpeg, data));
