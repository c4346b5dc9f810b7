//! pipeline: placeholder until its issue lands.
