//! daemon: placeholder until the pipeline issue lands.
