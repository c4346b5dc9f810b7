//! Integration tests of delivery: the composed messages as a mail client parses them, the
//! password channels, and the SMTP transport against a real SMTP server (plain, STARTTLS, TLS).

mod channels;
mod consistency;
mod message;
mod smtp;
