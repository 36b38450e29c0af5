//! The `x-oss-process` parser: any text is a plan or a 400, never a panic; the limits on
//! chains hold.
#![no_main]
use imgh_handler::process;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    for candidate in [text.to_string(), format!("image/{text}")] {
        match process::parse(&candidate) {
            Ok(plan) => assert!(plan.steps.len() <= process::MAX_ACTIONS, "{candidate:?}"),
            Err(e) => assert_eq!(e.status, 400, "{candidate:?}: {e}"),
        }
    }
});
