//! crypto: placeholder until its issue lands.
