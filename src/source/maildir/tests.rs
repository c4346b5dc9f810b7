//! Checks layout parsing and matching, and the collapsing of rescan scopes.

use super::*;

#[test]
fn layouts_parse_with_literal_suffixes_and_refuse_nonsense() {
    let l = Layout::parse("{domain}/{local}/Maildir").unwrap();
    assert_eq!(l.depth(), 3);
    assert_eq!(
        Layout::parse("{domain}/{local}").unwrap(),
        Layout::domain_slash_local()
    );
    assert_eq!(
        Layout::parse("{local}@{domain}").unwrap(),
        Layout::local_at_domain()
    );
    for bad in [
        "{domain}",
        "/{domain}/{local}",
        "{domain}/../{local}",
        "{domain}{local}",
        "{user}/{local}",
        "{domain}/{local}/{local}",
    ] {
        assert!(Layout::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_two_placeholder_component_splits_on_the_domain_side() {
    let l = Layout::local_at_domain();
    let caps = l.segments[0]
        .capture("a@b@example.com", &Captures::default())
        .unwrap();
    assert_eq!(caps.local.as_deref(), Some("a@b"));
    assert!(address_of(&caps).is_err());
    let caps = l.segments[0]
        .capture("first.last@example.com", &Captures::default())
        .unwrap();
    assert_eq!(
        address_of(&caps).unwrap().as_str(),
        "first.last@example.com"
    );
}

#[test]
fn literal_prefixes_and_affixes_around_placeholders_are_matched() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for d in [
        "mail/example.com/u-alice.d",
        "mail/example.com/bob",
        "other/example.com/u-x.d",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let layout = Layout::parse("mail/{domain}/u-{local}.d").unwrap();
    let s = scan(root, &layout, &[]).unwrap();
    let found: Vec<String> = s
        .listing
        .addresses()
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(found, ["alice@example.com"]);
    assert_eq!(s.listing.rejected.len(), 1);
    assert!(s.listing.rejected[0].origin.ends_with("bob"));
}

#[test]
fn nested_scopes_collapse_into_their_ancestor() {
    let s = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
    assert_eq!(
        minimal_scopes(vec![s(&["a", "x"]), s(&["a"]), s(&["b", "y"]), s(&["a"])]),
        vec![s(&["a"]), s(&["b", "y"])]
    );
    assert_eq!(minimal_scopes(vec![s(&["a"]), s(&[])]), vec![s(&[])]);
}

#[test]
fn a_burst_of_many_mailboxes_is_rescanned_as_their_domains_not_the_whole_tree() {
    let s = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
    // A bulk import of 1,000 mailboxes into one domain and one elsewhere.
    let mut burst: Vec<Vec<OsString>> = (0..1000)
        .map(|i| s(&["new.example", &format!("user{i}")]))
        .collect();
    burst.push(s(&["other.example", "ann"]));
    assert_eq!(
        bounded_scopes(burst, 256),
        vec![s(&["new.example"]), s(&["other.example"])]
    );
    // A few stay as they are.
    let few = vec![s(&["a.example", "x"]), s(&["b.example", "y"])];
    assert_eq!(bounded_scopes(few.clone(), 256), few);
    // Too many domains: the whole tree.
    let domains: Vec<Vec<OsString>> = (0..300).map(|i| s(&[&format!("d{i}"), "u"])).collect();
    assert_eq!(bounded_scopes(domains, 256), vec![s(&[])]);
}
