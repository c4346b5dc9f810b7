//! autodns: placeholder until its issue lands.
