//! Owns the store's schema history: numbered migrations, run in order at open inside one
//! transaction each, with the schema version kept in SQLite's `PRAGMA user_version` (atuin's
//! `migrations/` layout, flattened into code so the binary carries its own schema).
//!
//! Never edit a migration that has shipped; append a new one. A database whose version is higher
//! than the last migration here was written by a newer program and is refused (see
//! `StoreError::NewerSchema`), because guessing at unknown columns could re-order a certificate.

/// The migrations, index + 1 = the version each one produces.
pub const MIGRATIONS: &[&str] = &[
    // 1: mailboxes, their audit trail, the daily order budget, the poll-message ledger, settings.
    r#"
    CREATE TABLE mailbox (
        address          TEXT PRIMARY KEY NOT NULL,
        stage            TEXT NOT NULL,
        generation       INTEGER NOT NULL,
        version          INTEGER NOT NULL,
        present          INTEGER NOT NULL,
        gone_since       INTEGER,
        request          TEXT,
        key_ref          TEXT,
        contact_id       INTEGER,
        ctid             TEXT UNIQUE,
        job_id           INTEGER,
        certificate_id   INTEGER,
        renew_of         INTEGER,
        certificate_pem  TEXT,
        chain_pem        TEXT,
        not_after        INTEGER,
        serial           TEXT,
        fingerprint      TEXT,
        ordering_since   INTEGER,
        lease_owner      TEXT,
        lease_until      INTEGER,
        bundle_password  TEXT,
        bundle_sent_at   INTEGER,
        delivered_at     INTEGER,
        next_attempt_at  INTEGER,
        attempts         INTEGER NOT NULL DEFAULT 0,
        error_class      TEXT,
        error_code       TEXT,
        error_text       TEXT,
        gave_up          INTEGER NOT NULL DEFAULT 0,
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL
    );
    CREATE INDEX mailbox_job ON mailbox(job_id);
    CREATE TABLE event (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        address     TEXT NOT NULL,
        at          INTEGER NOT NULL,
        generation  INTEGER NOT NULL,
        kind        TEXT NOT NULL,
        detail      TEXT NOT NULL
    );
    CREATE INDEX event_address ON event(address, id);
    CREATE TABLE order_budget (
        day     TEXT PRIMARY KEY NOT NULL,
        orders  INTEGER NOT NULL
    );
    CREATE TABLE poll_message (
        message_id    INTEGER PRIMARY KEY NOT NULL,
        job_id        INTEGER,
        address       TEXT,
        outcome       TEXT NOT NULL,
        seen_at       INTEGER NOT NULL,
        confirmed_at  INTEGER
    );
    CREATE TABLE setting (
        key    TEXT PRIMARY KEY NOT NULL,
        value  TEXT NOT NULL
    );
    "#,
    // 2: per-source presence: which source reports which mailbox, the removals the
    // mass-removal guard holds back, and the removals it let through (its sliding window).
    // Mailboxes present before this migration get a `*` row ("reported before per-source
    // tracking"): it never makes a mailbox gone, and goes away once a source reports the
    // mailbox itself. The expression index serves the case-variant lookup of every new mailbox.
    r#"
    CREATE TABLE presence (
        address  TEXT NOT NULL,
        source   TEXT NOT NULL,
        since    INTEGER NOT NULL,
        PRIMARY KEY (address, source)
    ) WITHOUT ROWID;
    CREATE INDEX presence_source ON presence(source, address);
    CREATE TABLE held_removal (
        source   TEXT NOT NULL,
        address  TEXT NOT NULL,
        since    INTEGER NOT NULL,
        PRIMARY KEY (source, address)
    ) WITHOUT ROWID;
    CREATE TABLE removal_log (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        source  TEXT NOT NULL,
        at      INTEGER NOT NULL,
        count   INTEGER NOT NULL
    );
    CREATE INDEX removal_log_source ON removal_log(source, at);
    CREATE INDEX mailbox_lower ON mailbox(lower(address));
    INSERT INTO presence (address, source, since)
        SELECT address, '*', created_at FROM mailbox WHERE present = 1;
    "#,
    // 3: the person's name a source knows for the mailbox (an LDIF attribute, `enqueue
    // --name`), for the greeting and the order's first and last name; NULL when none is known.
    r#"
    ALTER TABLE mailbox ADD COLUMN display_name TEXT;
    "#,
    // 4: the notification outbox. A `notification` row is written in the transaction that
    // appends the audit event it reports (issued, delivered, renewed, failed, revoked, removed),
    // with the certificate's public facts at that moment; an `outbox` row per sink (hook,
    // webhook) says whether it has been sent, claimed, retried or given up.
    r#"
    CREATE TABLE notification (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id         INTEGER NOT NULL UNIQUE,
        event            TEXT NOT NULL,
        address          TEXT NOT NULL,
        generation       INTEGER NOT NULL,
        at               INTEGER NOT NULL,
        serial           TEXT,
        not_after        INTEGER,
        fingerprint      TEXT,
        certificate_pem  TEXT,
        chain_pem        TEXT,
        error            TEXT
    );
    CREATE INDEX notification_at ON notification(at);
    CREATE TABLE outbox (
        notification_id  INTEGER NOT NULL REFERENCES notification(id) ON DELETE CASCADE,
        sink             TEXT NOT NULL,
        attempts         INTEGER NOT NULL DEFAULT 0,
        next_attempt_at  INTEGER NOT NULL,
        last_error       TEXT,
        lease_owner      TEXT,
        finished_at      INTEGER,
        outcome          TEXT,
        PRIMARY KEY (notification_id, sink)
    ) WITHOUT ROWID;
    CREATE INDEX outbox_due ON outbox(finished_at, next_attempt_at);
    "#,
    // 5: a covering index for `/metrics` (`store::metrics`): a scrape reads the columns it
    // needs from the index instead of every row with its certificate.
    r#"
    CREATE INDEX mailbox_scrape ON mailbox(stage, gave_up, error_class, not_after, generation,
        present, address);
    "#,
    // 6: the key pool (keys generated ahead, `store::key_pool`): one row per pooled key-store
    // entry, bound to one mailbox generation when taken (the unique index makes a second
    // binding impossible). And an index on the stage, so the scheduler reads the records with
    // work to do instead of the whole table.
    r#"
    CREATE TABLE key_pool (
        name        TEXT PRIMARY KEY NOT NULL,
        key_type    TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        sealed      INTEGER NOT NULL DEFAULT 0,
        address     TEXT,
        generation  INTEGER,
        taken_at    INTEGER
    );
    CREATE UNIQUE INDEX key_pool_taker ON key_pool(address, generation)
        WHERE address IS NOT NULL;
    CREATE INDEX key_pool_free ON key_pool(key_type, sealed, created_at)
        WHERE address IS NULL;
    CREATE INDEX mailbox_stage ON mailbox(stage, next_attempt_at);
    "#,
];
