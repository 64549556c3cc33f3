//! Fuzzes the snapshot loader: any input must give a store or MEMORY_CORRUPTION,
//! never a panic, a hang or an allocation the input does not justify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ov_memory::{ErrorCode, Store};

fuzz_target!(|data: &[u8]| {
    match Store::from_bytes(data) {
        Ok(store) => {
            // A store that loads is whole: its invariants hold and it saves back.
            store.check_integrity().expect("a loaded store is consistent");
            let again = store.to_bytes().expect("a loaded store saves");
            let reloaded = Store::from_bytes(&again).expect("a saved store loads");
            assert_eq!(reloaded.len(), store.len());
        }
        Err(e) => assert_eq!(e.code(), ErrorCode::MemoryCorruption, "{e}"),
    }
});
