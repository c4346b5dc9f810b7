//! Fuzz target: the AutoDNS JSON API parsers (responses of every payload type, requests, push
//! bodies). Properties: no input panics; an answer that decodes re-encodes to an answer that
//! decodes to the same value (the codec loses nothing it accepted).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smime_provisioner::autodns::json::{self, Method};
use smime_provisioner::autodns::model::{
    Certificate, CertificateData, Job, ObjectJob, PollMessage, SslContact, Void,
};
use smime_provisioner::autodns::parse_push;

fn stable<T>(body: &[u8])
where
    T: json::JsonPayload + PartialEq + std::fmt::Debug,
{
    if let Ok(env) = json::decode_response::<T>("Fuzz", 200, body) {
        let again = json::encode_response(&env);
        match json::decode_response::<T>("Fuzz", 200, &again) {
            Ok(back) => assert_eq!(back, env, "re-encoded: {}", String::from_utf8_lossy(&again)),
            Err(e) => panic!(
                "re-encoded answer does not decode: {e}\n{}",
                String::from_utf8_lossy(&again)
            ),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    stable::<Certificate>(data);
    stable::<PollMessage>(data);
    stable::<Job>(data);
    stable::<ObjectJob>(data);
    stable::<SslContact>(data);
    stable::<CertificateData>(data);
    stable::<Void>(data);
    let _ = json::decode_request(Method::Post, "certificate", data);
    let _ = json::decode_request(Method::Put, "certificate/1/_renew", data);
    let _ = parse_push(data);
});
