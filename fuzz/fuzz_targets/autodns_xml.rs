//! Fuzz target: the AutoDNS XML gateway parsers (responses of every payload type, requests, push
//! bodies). Properties: no input panics; an answer that decodes re-encodes to an answer that
//! decodes to the same value (the codec loses nothing it accepted).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smime_provisioner::autodns::model::{
    Certificate, CertificateData, Job, ObjectJob, PollMessage, SslContact, Void,
};
use smime_provisioner::autodns::{parse_push, xml};

fn stable<T>(body: &[u8])
where
    T: xml::XmlPayload + PartialEq + std::fmt::Debug,
{
    if let Ok(env) = xml::decode_response::<T>("Fuzz", 200, body) {
        let again = xml::encode_response(&env);
        match xml::decode_response::<T>("Fuzz", 200, &again) {
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
    let _ = xml::decode_request(data);
    let _ = parse_push(data);
});
