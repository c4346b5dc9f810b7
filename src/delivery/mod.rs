//! delivery: placeholder until its issue lands.
