# shellcheck shell=bash disable=SC2034
# A throw-away nginx for tests (sourced): plain http and https on free
# loopback ports, serving one folder, with its own prefix, configuration,
# logs and a test CA made here with openssl. No systemd, no /etc/nginx,
# works as root or as a user. Needs nginx (Debian: nginx-light) and openssl.
#
#   source http.sh
#   http_start DIR [RATE]   serve DIR; sets
#       HTTP_URL    http://127.0.0.1:PORT      (DIR at full speed)
#       HTTPS_URL   https://127.0.0.1:SPORT    (the same over TLS)
#       HTTP_SLOW   http://127.0.0.1:PORT/slow (DIR with limit_rate RATE, default 1m)
#       HTTPS_SLOW  https://127.0.0.1:SPORT/slow
#       HTTP_CA     the test CA (PEM) that signed the server's certificate
#                   (subjectAltName IP:127.0.0.1, IP:::1, DNS:localhost)
#       HTTP_LOG    the access log: one line a request,
#                   'STATUS BYTES "REQUEST" range="..." ua="..." auth="..."'
#       HTTP_PREFIX nginx's prefix folder (config, logs, keys)
#   http_stop               stop it (also done at exit: http_start adds
#                           it to the EXIT trap, keeping the trap there was)
#   http_tls_ca DIR         make only a CA and a server certificate in DIR
#                           (DIR/ca.pem, DIR/server.pem, DIR/server.key)
#   http_free_port          print a free loopback TCP port

http_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# nx_at_exit CMD: run CMD at exit before what the EXIT trap did so far.
nx_at_exit() {
    local cmd=$1 cur="" t
    t=$(trap -p EXIT)
    if [ -n "$t" ]; then
        eval "set -- $t"
        cur=$3
    fi
    # shellcheck disable=SC2064
    trap "$cmd${cur:+; $cur}" EXIT
}

http_tls_ca() {
    local d=$1
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=nexo-update test CA" -keyout "$d/ca.key" -out "$d/ca.pem" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=localhost" -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
    printf '%s\n' "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost" \
        "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" > "$d/server.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -days 2 -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null
    chmod 600 "$d/ca.key" "$d/server.key"
}

_http_conf() { # _http_conf DIR RATE
    local dir=$1 rate=$2 p=$HTTP_PREFIX t
    for t in body proxy fastcgi uwsgi scgi; do mkdir -p "$p/tmp/$t"; done
    cat > "$p/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $p/nginx.pid;
error_log $p/error.log warn;
events { worker_connections 64; }
http {
    default_type application/octet-stream;
    types { }
    log_format nx '\$status \$body_bytes_sent "\$request" range="\$http_range" ua="\$http_user_agent" auth="\$http_authorization"';
    access_log $p/access.log nx;
    client_body_temp_path $p/tmp/body;
    proxy_temp_path $p/tmp/proxy;
    fastcgi_temp_path $p/tmp/fastcgi;
    uwsgi_temp_path $p/tmp/uwsgi;
    scgi_temp_path $p/tmp/scgi;
    sendfile on;
    server_tokens off;
    server {
        listen 127.0.0.1:$HTTP_PORT;
        listen 127.0.0.1:$HTTPS_PORT ssl;
        ssl_certificate $p/tls/server.pem;
        ssl_certificate_key $p/tls/server.key;
        root $dir;
        location /slow/ {
            alias $dir/;
            limit_rate $rate;
        }
    }
}
EOF
}

_http_ready() { # wait until both ports accept connections
    local i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT") 2>/dev/null &&
           (exec 3<>"/dev/tcp/127.0.0.1/$HTTPS_PORT") 2>/dev/null; then
            return 0
        fi
        kill -0 "$HTTP_PID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

http_start() {
    local dir rate=${2:-1m} try
    dir=$(cd "$1" && pwd)
    command -v nginx > /dev/null || PATH=$PATH:/usr/sbin
    command -v nginx > /dev/null || { echo "http.sh: nginx not found (apt-get install nginx-light)" >&2; return 1; }
    HTTP_PREFIX=$(mktemp -d "${TMPDIR:-/tmp}/nx-nginx.XXXXXX")
    chmod 755 "$HTTP_PREFIX"
    http_tls_ca "$HTTP_PREFIX/tls"
    HTTP_CA=$HTTP_PREFIX/tls/ca.pem
    HTTP_LOG=$HTTP_PREFIX/access.log
    nx_at_exit http_stop
    for try in 1 2 3 4 5; do
        HTTP_PORT=$(http_free_port)
        HTTPS_PORT=$(http_free_port)
        [ "$HTTP_PORT" != "$HTTPS_PORT" ] || continue
        _http_conf "$dir" "$rate"
        nginx -p "$HTTP_PREFIX" -c "$HTTP_PREFIX/nginx.conf" -e "$HTTP_PREFIX/error.log" \
            > /dev/null 2>> "$HTTP_PREFIX/error.log" &
        HTTP_PID=$!
        if _http_ready; then
            HTTP_URL=http://127.0.0.1:$HTTP_PORT
            HTTPS_URL=https://127.0.0.1:$HTTPS_PORT
            HTTP_SLOW=$HTTP_URL/slow
            HTTPS_SLOW=$HTTPS_URL/slow
            return 0
        fi
        kill "$HTTP_PID" 2>/dev/null || true
        wait "$HTTP_PID" 2>/dev/null || true
        HTTP_PID=
    done
    echo "http.sh: nginx did not start:" >&2
    cat "$HTTP_PREFIX/error.log" >&2
    return 1
}

http_stop() {
    if [ -n "${HTTP_PID:-}" ]; then
        kill -TERM "$HTTP_PID" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do
            kill -0 "$HTTP_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$HTTP_PID" 2>/dev/null || true
        wait "$HTTP_PID" 2>/dev/null || true
        HTTP_PID=
    fi
    if [ -n "${HTTP_PREFIX:-}" ]; then
        rm -rf "$HTTP_PREFIX"
        HTTP_PREFIX=
    fi
}
