# shellcheck shell=bash
# tests/e2e/lib/slapd.sh — an OpenLDAP slapd serving the base DN dc=example,dc=test on
# ldap://127.0.0.1:$E2E_LDAP_PORT/ only, with an old-style slapd.conf, an mdb database and its own
# PID file under $E2E_DIR/slapd. `slapcat` exports the database while slapd runs (back-mdb allows
# concurrent readers), which is how an administrator feeds the product's LDIF source.
#
# The rootpw below is a throwaway for a loopback test directory that lives for one run.

E2E_LDAP_BASE=dc=example,dc=test
E2E_LDAP_ADMIN=cn=admin,dc=example,dc=test
E2E_LDAP_ADMIN_PW=e2e-admin-only-on-loopback

e2e_slapd_write_config() {
    local sl=$E2E_DIR/slapd
    mkdir -p "$sl/db" "$sl/run"
    chmod 0700 "$sl/db"
    cat >"$sl/slapd.conf" <<EOF
# Written by tests/e2e/lib/slapd.sh for one e2e run (slapd.conf(5)).
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $sl/run/slapd.pid
argsfile $sl/run/slapd.args

database mdb
maxsize 104857600
suffix "$E2E_LDAP_BASE"
rootdn "$E2E_LDAP_ADMIN"
rootpw $E2E_LDAP_ADMIN_PW
directory $sl/db
index objectClass eq
index mail eq
EOF
    cat >"$sl/seed.ldif" <<EOF
dn: $E2E_LDAP_BASE
objectClass: dcObject
objectClass: organization
o: Example Test
dc: example

dn: ou=people,$E2E_LDAP_BASE
objectClass: organizationalUnit
ou: people
EOF
    /usr/sbin/slapadd -f "$sl/slapd.conf" -l "$sl/seed.ldif" >>"$E2E_DIR/log/slapd.log" 2>&1 \
        || { cat "$E2E_DIR/log/slapd.log" >&2; e2e_die "slapadd of the base entries failed"; }
}

e2e_slapd_start() {
    local sl=$E2E_DIR/slapd
    # -d keeps slapd in the foreground (so $! is slapd itself) and sends its log to our file.
    /usr/sbin/slapd -f "$sl/slapd.conf" -h "ldap://127.0.0.1:$E2E_LDAP_PORT/" -d stats \
        </dev/null >>"$E2E_DIR/log/slapd.log" 2>&1 &
    local pid=$!
    e2e_register_pid slapd "$pid"
    e2e_wait_port "$E2E_LDAP_PORT" slapd "$E2E_DIR/log/slapd.log" "$pid"
    e2e_log "slapd pid $pid, LDAP on ldap://127.0.0.1:$E2E_LDAP_PORT/"
}

e2e_ldap_url() { printf 'ldap://127.0.0.1:%s/' "$E2E_LDAP_PORT"; }

# Adds LDIF from stdin as the directory administrator.
e2e_ldapadd() {
    ldapadd -x -H "$(e2e_ldap_url)" -D "$E2E_LDAP_ADMIN" -w "$E2E_LDAP_ADMIN_PW" >>"$E2E_DIR/log/ldap-client.log" 2>&1
}

e2e_ldapdelete() {
    ldapdelete -x -H "$(e2e_ldap_url)" -D "$E2E_LDAP_ADMIN" -w "$E2E_LDAP_ADMIN_PW" "$@" >>"$E2E_DIR/log/ldap-client.log" 2>&1
}

# An inetOrgPerson entry for ADDRESS under ou=people, named by its local part.
e2e_ldap_person_ldif() {
    local address=$1 local_part=${1%@*}
    cat <<EOF
dn: uid=$local_part,ou=people,$E2E_LDAP_BASE
objectClass: inetOrgPerson
uid: $local_part
cn: $local_part
sn: $local_part
mail: $address

EOF
}

# Exports the whole directory the way an administrator's cron job would: into a temporary file,
# then renamed over the target so a reader never sees half a file.
e2e_slapcat_export() {
    local target=$1
    /usr/sbin/slapcat -f "$E2E_DIR/slapd/slapd.conf" -b "$E2E_LDAP_BASE" -l "$target.tmp" \
        2>>"$E2E_DIR/log/slapd.log" || e2e_die "slapcat export failed (log: $E2E_DIR/log/slapd.log)"
    mv -f "$target.tmp" "$target"
}
