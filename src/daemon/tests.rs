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

#[test]
fn paid_work_is_taken_before_new_work_whatever_the_order_it_came_in() {
    use crate::pipeline::Lane;
    let q = Queue::default();
    let a = |s: &str| Address::parse(&format!("{s}@example.com")).unwrap();
    for i in 0..5 {
        q.push(a(&format!("new{i}")));
    }
    q.push_paid(a("paid0"));
    q.push_in(a("paid1"), Lane::Paid);
    // A new mailbox that turns out to have paid work is moved up, and runs once.
    q.push_paid(a("new3"));
    q.push(a("paid0"));
    let order: Vec<String> = std::iter::from_fn(|| q.take())
        .map(|x| x.as_str().split('@').next().unwrap().to_string())
        .collect();
    assert_eq!(
        order,
        ["paid0", "paid1", "new3", "new0", "new1", "new2", "new4"]
    );
    assert_eq!(q.len(), 7, "all running, none waiting");
    // Asked for paid work while running: re-run in the paid lane, ahead of new work.
    q.push(a("new9"));
    q.push(a("new0"));
    q.push_paid(a("new0"));
    q.done(&a("new0"));
    assert_eq!(q.take(), Some(a("new0")));
    assert_eq!(q.take(), Some(a("new9")));
    assert_eq!(q.take(), None);
}
