//! Unit tests of the daemon's pure parts: the push token comparison and the work queue.

use super::http::token_matches;
use super::queue::Queue;
use crate::mailbox::Address;

#[test]
fn tokens_match_only_when_equal() {
    assert!(token_matches("abcdefghijklmnop", "abcdefghijklmnop"));
    assert!(!token_matches("abcdefghijklmnoq", "abcdefghijklmnop"));
    assert!(!token_matches("abc", "abcdefghijklmnop"));
    assert!(!token_matches("abcdefghijklmnopX", "abcdefghijklmnop"));
    assert!(!token_matches("", "abcdefghijklmnop"));
}

#[test]
fn an_address_is_queued_once_and_rerun_if_enqueued_while_running() {
    let q = Queue::default();
    let a = Address::parse("a@example.com").unwrap();
    q.push(a.clone());
    q.push(a.clone());
    assert_eq!(q.take(), Some(a.clone()));
    assert_eq!(q.take(), None);
    q.push(a.clone());
    assert_eq!(q.take(), None, "not twice at once");
    q.done(&a);
    assert_eq!(q.take(), Some(a));
}
