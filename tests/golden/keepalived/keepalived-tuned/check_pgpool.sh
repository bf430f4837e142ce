#!/bin/sh
# keepalived's track script on PgBAL1: is this balancer's pgpool alive?
# A real query through pgpool first. If pgpool takes no new session in time (every child busy under
# load), pgpool's own PCP process is asked: an answer there means busy, not dead. Refused, an error, or
# no answer from either (a frozen pgpool) fails.
answer=$(PGPASSFILE=/var/lib/pgpool-anycast-bench/pgab/hosts/PgBAL1/keepalived/pgpass PGCONNECT_TIMEOUT=2 /usr/bin/psql -h 198.18.2.94 -p 5432 -U bench -d bench -XAtq -c 'SELECT 1' 2>&1) && exit 0
case "$answer" in
    *"timeout expired"*)
        PCPPASSFILE=/var/lib/pgpool-anycast-bench/pgab/hosts/PgBAL1/keepalived/pcppass exec /usr/bin/timeout 1 /usr/sbin/pcp_node_count -h /var/lib/pgpool-anycast-bench/pgab/hosts/PgBAL1/run/pgpool -p 9898 -U pgpool -w >/dev/null 2>&1 ;;
esac
exit 1
