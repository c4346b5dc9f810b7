//! Integration tests of the mailbox sources: the maildir tree, the LDIF export, the enqueue spool
//! and the PostfixAdmin hook that feeds it; each reports present and removed mailboxes, guarded
//! against a mass removal.

mod ldif;
mod maildir;
mod postfixadmin;
mod spool;
