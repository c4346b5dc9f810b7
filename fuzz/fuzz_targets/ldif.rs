//! Fuzz target for the LDIF parser (`source::ldif::parse`) and the listing built from its
//! records: any bytes must give records or a line-numbered error, never a panic, and an
//! error's line must lie inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smime_provisioner::source::ldif::{self, KeyAttr, LdifSettings};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    match ldif::parse(data) {
        Ok(records) => {
            for key in [KeyAttr::EntryUuid, KeyAttr::Dn] {
                let settings = LdifSettings {
                    attributes: vec!["mail".into(), "mailAlternateAddress".into()],
                    object_class: None,
                    key,
                    ..LdifSettings::new("fuzz.ldif")
                };
                // Errors (change records, duplicate keys) are fine; panics are not.
                let _ = ldif::listing_from_records(&records, &settings, Path::new("fuzz.ldif"));
            }
        }
        Err(e) => {
            let lines = data.split(|&b| b == b'\n').count();
            assert!(e.line >= 1 && e.line <= lines, "line {} of {lines}", e.line);
        }
    }
});
