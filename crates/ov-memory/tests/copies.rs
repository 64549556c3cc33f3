//! The project carries byte-for-byte copies of the original usage examples and of
//! the data it uses (users who clone it have no ../shared). When the shared folder
//! is there (the developers' and CI's machines), the copies must still match it.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn copies_match_the_shared_originals() {
    let pairs = [
        ("tests/original-examples/example.c", "seed-examples/example.c"),
        ("tests/original-examples/example.rs", "seed-examples/example.rs"),
        ("tests/original-examples/example.js", "seed-examples/example.js"),
        ("tests/original-examples/example.ts", "seed-examples/example.ts"),
        ("tests/original-examples/README.md", "seed-examples/README.md"),
        ("tests/data/qa_coding.jsonl", "data/qa_coding.jsonl"),
        ("tests/data/qa_adversarial.jsonl", "data/qa_adversarial.jsonl"),
        ("tests/data/LICENSES.txt", "data/LICENSES.txt"),
        ("tests/data/README.upstream.md", "data/README.md"),
        ("tests/data/corpus/corpus_fortunes.f32", "data/corpus_fortunes.f32"),
        ("tests/data/corpus/corpus_fortunes.txt", "data/corpus_fortunes.txt"),
        ("tests/data/corpus/corpus_fortunes.meta.json", "data/corpus_fortunes.meta.json"),
        ("tests/data/corpus/corpus_queries.f32", "data/corpus_queries.f32"),
        ("tests/data/corpus/corpus_queries.json", "data/corpus_queries.json"),
        ("tests/data/locomo/README.md", "data/locomo/README.md"),
        ("tests/data/locomo/LICENSE.txt", "data/locomo/LICENSE.txt"),
    ];
    let mut pairs = pairs.map(|(a, b)| (a.to_owned(), b.to_owned())).to_vec();
    for n in 1..=5 {
        for ext in ["json", "memories.f32", "queries.f32"] {
            pairs.push((format!("tests/data/locomo/conv{n:02}.{ext}"), format!("data/locomo/conv{n:02}.{ext}")));
        }
    }
    for (ours, _) in &pairs {
        assert!(root().join(ours).is_file(), "{ours} is missing from the project");
    }
    let shared = root().join("../shared");
    if !shared.is_dir() {
        eprintln!("../shared is absent: only the presence of the copies was checked");
        return;
    }
    for (ours, theirs) in &pairs {
        let a = std::fs::read(root().join(ours)).unwrap();
        let b = std::fs::read(shared.join(theirs)).unwrap();
        assert!(a == b, "{ours} differs from shared/{theirs}");
    }
}
