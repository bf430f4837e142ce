#!/bin/sh
# keepalived's notify script on PgBAL1: every VRRP state change, as one health decision (JSON line).
# keepalived runs it as: notify.sh INSTANCE NAME STATE PRIORITY
case "$3" in
    MASTER) announced=true; reason="holds the VIP" ;;
    FAULT) announced=false; reason="track script failed: the VIP is given up" ;;
    *) announced=false; reason="does not hold the VIP" ;;
esac
printf '{"t_us": %s, "host": "%s", "source": "keepalived", "kind": "state", "state": "%s", "announced": %s, "evidence": "vrrp", "reason": "%s"}\n' \
    "$(date +%s%6N)" PgBAL1 "$3" "$announced" "$reason" >> /var/lib/pgpool-anycast-bench/pgab/hosts/PgBAL1/log/health.jsonl
