//! Fuzzes the snapshot loader: any input must give a store, MEMORY_CORRUPTION,
//! or RESOURCE_EXHAUSTION (a well-formed snapshot over the default limits),
//! never a panic, a hang or an allocation the input does not justify.
//!
//! Each input is loaded twice: as it is, and with every section's CRC-32
//! recomputed, so that mutations also reach the parsers behind the checksums.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ov_memory::{ErrorCode, Store};

/// The input with each well-framed section's checksum rewritten to match.
fn fix_checksums(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut pos = 16;
    while pos + 16 <= out.len() {
        let len = u64::from_le_bytes(out[pos + 4..pos + 12].try_into().unwrap());
        let Some(end) = usize::try_from(len).ok().and_then(|l| (pos + 16).checked_add(l)).filter(|&e| e <= out.len())
        else {
            break;
        };
        let crc = crc32fast::hash(&out[pos + 16..end]);
        out[pos + 12..pos + 16].copy_from_slice(&crc.to_le_bytes());
        pos = end;
    }
    out
}

fn check(data: &[u8]) {
    match Store::from_bytes(data) {
        Ok(store) => {
            // A store that loads is whole: its invariants hold and it saves back.
            store.check_integrity().expect("a loaded store is consistent");
            let again = store.to_bytes().expect("a loaded store saves");
            let reloaded = Store::from_bytes(&again).expect("a saved store loads");
            assert_eq!(reloaded.len(), store.len());
        }
        Err(e) => assert!(matches!(e.code(), ErrorCode::MemoryCorruption | ErrorCode::ResourceExhaustion), "{e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    check(&fix_checksums(data));
});
