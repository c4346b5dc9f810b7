//! The daemon's heap, kept small on a long-running host: glibc's allocator keeps memory freed
//! after a large transient job (the listing of a 100,000-mailbox tree, a backlog taken up) in
//! its arenas, so the resident size would stay at the job's peak for the life of the process.
//! [`limit_arenas`] caps the per-thread arenas (each holds its own freed memory) and
//! [`give_back`] hands freed pages to the kernel after such a job. Elsewhere both do nothing.

/// Caps glibc's malloc arenas at two; call before any thread starts (the tokio runtime).
#[allow(unsafe_code)]
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes two integers and only sets an allocator tunable; it is called
    // before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns the free memory of every arena to the kernel (milliseconds for a few hundred MiB).
#[allow(unsafe_code)]
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes an integer and only releases pages the allocator holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}
