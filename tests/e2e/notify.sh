#!/usr/bin/env bash
# E-mail notifications (issue 7, contracts §2 check --notify, §3 [notify],
# §4 the notify step; docs/operations.md "E-mail") against a real SMTP
# server on loopback: aiosmtpd from Debian's python3-aiosmtpd, started by
# this test on a free port, writing every message it accepts (as received,
# after the SMTP dot-unstuffing) and its envelope into a folder. A demo
# site on SQLite (site.sh) with core and a plugin from a signed repository:
#
#   * check --notify without [notify] email: exit 1, nothing sent;
#   * check --notify: one mail listing every available update, the security
#     one first and marked, RFC 5322 headers (Date, From, To, Subject,
#     Message-ID), each recorded in update_notifications; a second run sends
#     nothing; a newer release is mailed alone; -n shows the mail only;
#     with the server stopped: exit 1 naming the SMTP URL and curl's error,
#     nothing recorded;
#   * the notify step of the shipped pipelines: a core and a plugin update
#     mail their success; a failed update (NEXO_FAULT=replace:after-run:fail)
#     mails the error, the steps undone and that the old version is back;
#     a killed one mails when `recover` unwinds it (error "interrupted"); a
#     repeated undo does not mail twice; with the server stopped an update
#     still succeeds (exit 0), a failed one still rolls back (exit 3), and
#     the failure to mail is a warning naming the URL and curl's error;
#   * login ([notify] user, password_file 0600: a wider mode refused, a wrong
#     password refused by the server) and TLS always verified (STARTTLS and
#     smtps:// to a server with a self-signed certificate are refused;
#     starttls = true to a server without STARTTLS is refused too).
#
# Usage: notify.sh PREFIX TESTMODS
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/db.sh"
source "$here/site.sh"
nx_setup "$1" "$2"

PY=/usr/bin/python3 # Debian's python, where python3-aiosmtpd lives
if ! "$PY" -c 'import aiosmtpd' 2>/dev/null; then
    echo "not ok - the SMTP sink needs python3-aiosmtpd (tests/deps.sh installs it)"; exit 1
fi

site_setup sqlite 1.0.0 1.1.0
MAIL="$T/mail"
mkdir -p "$MAIL"

# ---- the SMTP sink ------------------------------------------------------------
cat > "$T/sink.py" <<'PY'
# sink.py DIR PORTFILE [user=U password=P] [cert=C key=K starttls|smtps]
import asyncio, json, os, ssl, sys
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

outdir, portfile = sys.argv[1], sys.argv[2]
opts = dict(a.split('=', 1) if '=' in a else (a, '1') for a in sys.argv[3:])

class Sink:
    async def handle_DATA(self, server, session, envelope):
        n = len([f for f in os.listdir(outdir) if f.endswith('.eml')]) + 1
        base = os.path.join(outdir, '%03d' % n)
        with open(base + '.json', 'w') as f:
            json.dump({'mail_from': envelope.mail_from, 'rcpt_tos': envelope.rcpt_tos,
                       'login': session.authenticated and opts.get('user')}, f)
        with open(base + '.tmp', 'wb') as f:
            f.write(envelope.original_content)
        os.rename(base + '.tmp', base + '.eml')
        return '250 OK queued as %03d' % n

def auth(server, session, envelope, mechanism, data):
    ok = (isinstance(data, LoginPassword) and data.login.decode() == opts['user']
          and data.password.decode() == opts['password'])
    return AuthResult(success=ok, handled=False)  # the server answers 235 or 535

kw = {'decode_data': False}
if 'user' in opts:
    kw.update(authenticator=auth, auth_require_tls=False, auth_required=True)
ctx = None
if 'cert' in opts:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(opts['cert'], opts['key'])
    if 'starttls' in opts:
        kw.update(tls_context=ctx, require_starttls=True)

async def main():
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(lambda: SMTP(Sink(), hostname='sink.test', **kw),
                                   '127.0.0.1', 0, ssl=ctx if 'smtps' in opts else None)
    with open(portfile + '.tmp', 'w') as f:
        f.write('%d\n' % srv.sockets[0].getsockname()[1])
    os.rename(portfile + '.tmp', portfile)
    await srv.serve_forever()

asyncio.run(main())
PY

SINK_PID=
sink_stop() {
    if [ -n "$SINK_PID" ]; then
        kill "$SINK_PID" 2>/dev/null || true
        wait "$SINK_PID" 2>/dev/null || true
    fi
    SINK_PID=
}
# sink_start [OPTIONS]: a fresh sink; sets PORT
sink_start() {
    sink_stop
    rm -f "$T/sink.port"
    "$PY" "$T/sink.py" "$MAIL" "$T/sink.port" "$@" 2> "$T/sink.log" &
    SINK_PID=$!
    local i
    for i in $(seq 1 100); do
        [ -s "$T/sink.port" ] && break
        sleep 0.1
    done
    PORT=$(cat "$T/sink.port" 2>/dev/null || true)
    [ -n "$PORT" ] || { echo "# the SMTP sink did not start:"; sed 's/^/#   /' "$T/sink.log"; exit 1; }
}
trap 'sink_stop; db_drop; rm -rf "$T"' EXIT

mails() { ls "$MAIL" | grep -c '\.eml$' || true; }
last_mail() { ls "$MAIL"/*.eml | tail -n 1; }
# field FILE NAME: a header of a message, decoded
field() {
    "$PY" - "$1" "$2" <<'PY'
import email, email.header, sys
m = email.message_from_binary_file(open(sys.argv[1], 'rb'))
v = m[sys.argv[2]]
print(str(email.header.make_header(email.header.decode_header(v))) if v is not None else '')
PY
}
body() { "$PY" -c 'import email, sys; print(email.message_from_binary_file(open(sys.argv[1], "rb")).get_payload(decode=True).decode())' "$1"; }
export PY
export -f field body # used in bash -c of the checks
# rfc5322 FILE: Date parses, Message-ID <x@y>, From, To, Subject there; CRLF
rfc5322() {
    "$PY" - "$1" <<'PY'
import email, email.utils, re, sys
raw = open(sys.argv[1], 'rb').read()
m = email.message_from_bytes(raw)
assert email.utils.parsedate_to_datetime(m['Date']) is not None, m['Date']
assert re.fullmatch(r'<[^<>@\s]+@[^<>@\s]+>', m['Message-ID']), m['Message-ID']
assert m['From'] == 'nexo-update@example.org' and m['To'] and m['Subject'], m
assert m['MIME-Version'] == '1.0' and 'charset=UTF-8' in m['Content-Type'], m
assert b'\r\n' in raw and b'\n' not in raw.replace(b'\r\n', b''), 'bare LF'
assert max(len(l) for l in raw.split(b'\r\n')) <= 998, 'line too long'
PY
}
jqt() { jq -e "$2" "$1" > /dev/null; } # jqt FILE FILTER
rc_of() { local rc=0; "$@" > "$T/out" 2> "$T/err" || rc=$?; echo "$rc"; }
show_err() { sed 's/^/#   /' "$T/err" | head -n 20; }
notif_rows() { db_sql "SELECT component || ' ' || COALESCE(current_version, '-') || ' ' || latest_version || ' ' || is_security FROM update_notifications ORDER BY id"; }

# [notify] of the test configuration (replaced as a whole)
cp "$CONF" "$T/nexo.base"
notify_conf() { # notify_conf KEY=VALUE...
    cp "$T/nexo.base" "$CONF"
    printf '[notify]\n' >> "$CONF"
    local kv
    for kv in "$@"; do printf '%s = %s\n' "${kv%%=*}" "${kv#*=}" >> "$CONF"; done
}
std_conf() { notify_conf "email=admin@example.org, ops@example.org" \
    "smtp_url=smtp://127.0.0.1:$PORT" "from=nexo-update@example.org" "$@"; }

# ---- releases: core 1.1.0; plugin forum 1.0.0 installed, 1.1.0 a security release
REL="$PREFIX/bin/nexo-release"
site_plugin_release forum 1.0.0 "$T/src/plugin-forum-1.0.0"
site_plugin_release forum 1.1.0 "$T/src/plugin-forum-1.1.0"
"$REL" -q pack --component plugin:forum --src "$T/src/plugin-forum-1.0.0" --key "$T/keys/vendor.key" --repo "$T/repo"
printf -- '- fixes a cross-site scripting hole in topics\n' > "$T/changelog"
"$REL" -q pack --component plugin:forum --src "$T/src/plugin-forum-1.1.0" --key "$T/keys/vendor.key" \
    --repo "$T/repo" --security --changelog "$T/changelog"
rc=$(rc_of "$NX" -q -c "$CONF" -y plugin forum --to 1.0.0)
check "plugin forum 1.0.0 installed (exit $rc)" test "$rc" = 0
[ "$rc" = 0 ] || show_err
pack_core() { # pack_core V: one more core release
    site_release "$1" "$T/src/$1"
    "$REL" -q pack --component core --src "$T/src/$1" --key "$T/keys/vendor.key" --repo "$T/repo"
}

# ---- check --notify ---------------------------------------------------------------
sink_start
rc=$(rc_of "$NX" -c "$CONF" check --notify)
check "check --notify without [notify]: exit 1, says so (got $rc)" \
    bash -c "test $rc = 1 && grep -q 'no \[notify\] email in $CONF' '$T/err'"
notify_conf "email=" "smtp_url=smtp://127.0.0.1:$PORT"
rc=$(rc_of "$NX" -c "$CONF" check --notify)
check "check --notify with an empty [notify] email: exit 1 (got $rc)" \
    bash -c "test $rc = 1 && grep -q 'no \[notify\] email' '$T/err'"
check "nothing was sent" test "$(mails)" = 0

std_conf
rc=$(rc_of "$NX" -c "$CONF" -n check --notify)
check "check -n --notify: shows the mail, exit 100, sends and records nothing (got $rc)" \
    bash -c "test $rc = 100 && grep -q 'would mail to admin@example.org, ops@example.org through smtp://127.0.0.1:$PORT' '$T/err' && grep -q '\[SECURITY\] plugin:forum 1.0.0 -> 1.1.0' '$T/out' && test \$(ls '$MAIL' | wc -l) = 0"
check "check -n --notify: nothing recorded" test -z "$(notif_rows)"

rc=$(rc_of "$NX" -c "$CONF" --json check --notify)
check "check --notify: exit 100 (got $rc)" test "$rc" = 100
[ "$rc" = 100 ] || show_err
check "check --notify: one mail" test "$(mails)" = 1
M=$(last_mail)
check "check mail: RFC 5322 headers, CRLF, no line over 998 octets" rfc5322 "$M"
check "check mail: envelope to both addresses, from [notify] from" \
    jqt "${M%.eml}.json" '.mail_from == "nexo-update@example.org" and .rcpt_tos == ["admin@example.org", "ops@example.org"]'
check "check mail: the subject counts the updates and the security one" \
    bash -c "field '$M' Subject | grep -q '^\[nexo-update\] 2 updates available on .* (1 security)$'" 
body "$M" > "$T/body"
check "check mail: lists plugin:forum 1.0.0 -> 1.1.0 first, marked [SECURITY], then core 1.0.0 -> 1.1.0" \
    bash -c "grep -E '^  (\[SECURITY\] )?(core|plugin:forum) ' '$T/body' | diff <(printf '  [SECURITY] plugin:forum 1.0.0 -> 1.1.0\n  core 1.0.0 -> 1.1.0\n') -"
check "check mail: how to install each, the changelog" \
    bash -c "grep -q 'install:   nexo-update plugin forum' '$T/body' && grep -q 'install:   nexo-update core' '$T/body' && grep -q 'fixes a cross-site scripting hole' '$T/body'"
check "check --notify --json: notified lists both, security flags" \
    jqt "$T/out" '[.notified[] | "\(.component) \(.current_version) \(.latest_version) \(.is_security)"] == ["plugin:forum 1.0.0 1.1.0 true", "core 1.0.0 1.1.0 false"] and (.notified[0].notified_at > 1700000000)'
check "update_notifications: one row per mailed update" \
    diff <(printf 'plugin:forum 1.0.0 1.1.0 1\ncore 1.0.0 1.1.0 0\n') <(notif_rows)

rc=$(rc_of "$NX" -c "$CONF" --json check --notify)
check "a second check --notify: exit 100, nothing sent, notified empty (got $rc)" \
    bash -c "test $rc = 100 && test $(mails) = 1 && jq -e '.notified == [] and (.updates | length) == 2' '$T/out' >/dev/null && grep -q 'mailed before' '$T/err'"
check "a second check --notify: no new row" test "$(notif_rows | wc -l)" = 2

pack_core 1.2.0
rc=$(rc_of "$NX" -c "$CONF" check --notify)
check "core 1.2.0 released: check --notify mails it alone (exit $rc)" \
    bash -c "test $rc = 100 && test $(mails) = 2"
M=$(last_mail)
check "core 1.2.0 mail: subject and list" \
    bash -c "field '$M' Subject | grep -q '^\[nexo-update\] update available on .*: core 1.0.0 -> 1.2.0$' && body '$M' | grep -q '^  core 1.0.0 -> 1.2.0' && ! body '$M' | grep -q forum"

pack_core 1.3.0
sink_stop
rc=$(rc_of "$NX" -c "$CONF" check --notify)
check "server stopped: check --notify exits 1 naming the SMTP URL and curl's error (got $rc)" \
    bash -c "test $rc = 1 && grep -q 'mail to admin@example.org, ops@example.org through smtp://127.0.0.1:$PORT failed: Couldn.t connect to server' '$T/err' && grep -q 'nothing was recorded in update_notifications' '$T/err'"
check "server stopped: nothing recorded" test "$(notif_rows | wc -l)" = 3
sink_start
std_conf
rc=$(rc_of "$NX" -c "$CONF" check --notify)
check "server back: core 1.3.0 is mailed now (exit $rc)" \
    bash -c "test $rc = 100 && body '$(ls "$MAIL"/*.eml | tail -n 1)' | grep -q '^  core 1.0.0 -> 1.3.0'"

# ---- the notify step: success ---------------------------------------------------------
n0=$(mails)
rc=$(rc_of "$NX" -c "$CONF" -y core --to 1.1.0)
ID=$(db_sql "SELECT update_id FROM update_history ORDER BY id DESC LIMIT 1")
check "core 1.0.0 -> 1.1.0: exit 0, one mail (got $rc)" bash -c "test $rc = 0 && test $(mails) = $((n0 + 1))"
[ "$rc" = 0 ] || show_err
M=$(last_mail)
body "$M" > "$T/body"
check "success mail: RFC 5322 headers" rfc5322 "$M"
check "success mail: subject" bash -c "field '$M' Subject | grep -q '^\[nexo-update\] core updated 1.0.0 -> 1.1.0 on '"
check "success mail: versions, update id, time in maintenance mode" \
    bash -c "grep -q '^Version: *1.0.0 -> 1.1.0$' '$T/body' && grep -q '^Update id: *$ID$' '$T/body' && grep -Eq '^Maintenance mode: *[0-9.]+ s$' '$T/body'"
check "the notify step said so" grep -q "\[notify\] mailed the success of the update to admin@example.org, ops@example.org" "$T/err"

rc=$(rc_of "$NX" -c "$CONF" -y plugin forum)
M=$(last_mail)
check "plugin forum 1.0.0 -> 1.1.0: exit 0, its success mailed (got $rc)" \
    bash -c "test $rc = 0 && field '$M' Subject | grep -q '^\[nexo-update\] plugin:forum updated 1.0.0 -> 1.1.0 on '"

# ---- the notify step: failure -----------------------------------------------------------
n0=$(mails)
rc=$(NEXO_FAULT=replace:after-run:fail rc_of "$NX" -c "$CONF" -y core --to 1.2.0)
ID=$(db_sql "SELECT update_id FROM update_history ORDER BY id DESC LIMIT 1")
check "a failed update (replace fails): exit 3, one mail (got $rc)" \
    bash -c "test $rc = 3 && test $(mails) = $((n0 + 1))"
M=$(last_mail)
body "$M" > "$T/body"
check "failure mail: RFC 5322 headers" rfc5322 "$M"
check "failure mail: subject" bash -c "field '$M' Subject | grep -q '^\[nexo-update\] FAILED: core 1.1.0 -> 1.2.0 on .*, rolled back$'"
check "failure mail: update id, versions, the error" \
    bash -c "grep -q '^Update id: *$ID$' '$T/body' && grep -q '^Version: *1.1.0 -> 1.2.0$' '$T/body' && grep -q '^Error: *\[replace\] NEXO_FAULT: injected failure at after-run$' '$T/body'"
check "failure mail: the steps undone, in order" \
    grep -q '^Rolled back: *replace, migrate, hooks-before, backup, maintenance-on, hooks-rollback, extract, verify, download$' "$T/body"
check "failure mail: the old version is back, maintenance off" \
    bash -c "grep -q '^Old version back: *yes: $T/site/core/version.php says 1.1.0$' '$T/body' && grep -q '^Maintenance mode: *off$' '$T/body'"
check "the site is on 1.1.0" test "$(site_version_disk)" = 1.1.0

n0=$(mails)
rc=$(NEXO_FAULT=migrate:after-run:kill rc_of quiet_kill "$NX" -c "$CONF" -y core --to 1.2.0)
check "killed update: exit 137, nothing mailed yet (got $rc)" bash -c "test $rc = 137 && test $(mails) = $n0"
rc=$(rc_of "$NX" -c "$CONF" recover)
ID=$(db_sql "SELECT update_id FROM update_history ORDER BY id DESC LIMIT 1")
check "recover: exit 0, the failure mailed (got $rc)" bash -c "test $rc = 0 && test $(mails) = $((n0 + 1))"
M=$(last_mail)
body "$M" > "$T/body"
check "recover's mail: error interrupted, unwound by recover, update id" \
    bash -c "grep -q '^Error: *interrupted$' '$T/body' && grep -q \"rolled back by 'nexo-update recover'\" '$T/body' && grep -q '^Update id: *$ID$' '$T/body'"
check "recover's mail: the steps undone, the old version back" \
    bash -c "grep -q '^Rolled back: *migrate, hooks-before, backup, maintenance-on, hooks-rollback, extract, verify, download$' '$T/body' && grep -q '^Old version back: *yes: .* says 1.1.0$' '$T/body'"

n0=$(mails)
rc=$(NEXO_FAULT=replace:after-run:fail,notify-failure:after-undo:kill rc_of quiet_kill "$NX" -c "$CONF" -y core --to 1.2.0)
rc2=$(rc_of "$NX" -c "$CONF" recover)
check "killed right after mailing the failure: recover repeats the undo, no second mail (exits $rc, $rc2)" \
    bash -c "test $rc = 137 && test $rc2 = 0 && test $(mails) = $((n0 + 1))"

# ---- the SMTP server stopped -------------------------------------------------------------
sink_stop
n0=$(mails)
rc=$(NEXO_FAULT=replace:after-run:fail rc_of "$NX" -c "$CONF" -y core --to 1.2.0)
check "server stopped, a failed update: still rolled back, exit 3 (got $rc)" test "$rc" = 3
check "server stopped, a failed update: a warning names the URL and curl's error" \
    grep -q "warning: \[notify-failure\] the failure of the update was not mailed: mail to admin@example.org, ops@example.org through smtp://127.0.0.1:$PORT failed: Couldn't connect to server" "$T/err"
rc=$(rc_of "$NX" -c "$CONF" -y core --to 1.2.0)
check "server stopped: the update succeeds, exit 0 (got $rc)" test "$rc" = 0
[ "$rc" = 0 ] || show_err
check "server stopped: a warning names the URL and curl's error" \
    grep -q "warning: \[notify\] the success of the update was not mailed: mail to admin@example.org, ops@example.org through smtp://127.0.0.1:$PORT failed: Couldn't connect to server" "$T/err"
check "server stopped: on 1.2.0, history success, nothing mailed" \
    bash -c "test '$(site_version_disk)' = 1.2.0 && test '$(site_history_outcome)' = success && test $(mails) = $n0"

# ---- login and TLS, through a pipeline of the notify step alone ------------------------------
printf '[pipeline]\nname = mailonly\n[notify]\nmodule = notify\non = success\n' > "$T/mailonly.ini"
mailonly() { rc_of "$NX" -c "$CONF" -y pipeline run "$T/mailonly.ini" --component core --from 1.2.0 --to 1.3.0; }
sink_start user=mailer password=s3cret
printf 's3cret\n' > "$T/smtp.pw"
chmod 644 "$T/smtp.pw"
std_conf user=mailer "password_file=$T/smtp.pw"
n0=$(mails)
rc=$(mailonly)
check "password_file mode 0644: refused naming it, exit 0, nothing sent (got $rc)" \
    bash -c "test $rc = 0 && grep -q '\[notify\] password_file $T/smtp.pw can be read or written by group or others (mode 0644)' '$T/err' && test $(mails) = $n0"
chmod 600 "$T/smtp.pw"
rc=$(mailonly)
M=$(last_mail)
check "login with user and password_file: mailed, the server saw the login (exit $rc)" \
    bash -c "test $rc = 0 && test $(mails) = $((n0 + 1)) && jq -e '.login == \"mailer\"' '${M%.eml}.json' >/dev/null"
check "the password is not in the journal" bash -c "! grep -rq s3cret '$T/state/journal'"
printf 'wrong\n' > "$T/smtp.pw"
rc=$(mailonly)
check "a wrong password: a warning with curl's error and the SMTP reply, exit 0 (got $rc)" \
    bash -c "test $rc = 0 && grep -q \"through smtp://127.0.0.1:$PORT failed: Login denied.*(last SMTP reply 535)\" '$T/err' && test $(mails) = $((n0 + 1))"
std_conf user=mailer
rc=$(mailonly)
check "without a password the server refuses too, exit 0 (got $rc)" \
    bash -c "test $rc = 0 && grep -q 'the success of the update was not mailed: mail to .* failed' '$T/err'"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -keyout "$T/tls.key" -out "$T/tls.crt" > /dev/null 2>&1
sink_start "cert=$T/tls.crt" "key=$T/tls.key" starttls
std_conf starttls=true
n0=$(mails)
rc=$(mailonly)
check "STARTTLS to a server with a self-signed certificate: refused (verified), a warning, exit 0 (got $rc)" \
    bash -c "test $rc = 0 && grep -q \"through smtp://127.0.0.1:$PORT failed: .*certificate\" '$T/err' && test $(mails) = $n0"
sink_start "cert=$T/tls.crt" "key=$T/tls.key" smtps
notify_conf "email=admin@example.org" "smtp_url=smtps://127.0.0.1:$PORT" "from=nexo-update@example.org"
rc=$(mailonly)
check "smtps:// to a server with a self-signed certificate: refused (verified), exit 0 (got $rc)" \
    bash -c "test $rc = 0 && grep -q \"through smtps://127.0.0.1:$PORT failed: .*certificate\" '$T/err' && test $(mails) = $n0"
sink_start
std_conf starttls=true
rc=$(mailonly)
check "starttls = true to a server without STARTTLS: refused, not sent in clear (got $rc)" \
    bash -c "test $rc = 0 && grep -q 'the success of the update was not mailed: mail to .* failed' '$T/err' && test $(mails) = $n0"

nx_finish
