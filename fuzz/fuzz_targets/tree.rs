//! Tree blobs (`snap::snapshot::Tree::decode`): a decoded tree re-encodes to
//! bytes that decode to an equal tree, and that encoding is a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::snapshot::Tree;

fuzz_target!(|data: &[u8]| {
    if let Ok(tree) = Tree::decode(data) {
        let encoded = tree.encode();
        let again = Tree::decode(&encoded).expect("re-encoded tree must decode");
        assert_eq!(again, tree);
        assert_eq!(again.encode(), encoded);
        for node in &tree.nodes {
            assert!(node.check_name().is_ok());
            assert!(tree.find(node.name.as_bytes()).is_some());
        }
    }
});
