# shellcheck shell=bash
# mariadb: every service's database and its user (password from the lab's secrets, on stdin).

MARIADB_DATABASES=(keystone glance placement nova_api nova nova_cell0 neutron cinder)

mariadb_up() {
  ctl_dirs mysql /run/mysqld
  in_ctl test -d /var/lib/mysql/mysql \
    || in_ctl mariadb-install-db --user=mysql --datadir=/var/lib/mysql >>"$LAB_LOGS/mariadb.log" 2>&1
  daemon mariadb mysql "$CTL_NS" /usr/sbin/mariadbd --user=mysql --bind-address="$CTL_IP" \
    --datadir=/var/lib/mysql --socket=/run/mysqld/mysqld.sock --max-connections=500
  wait_for mariadb 60 "$LAB_LOGS/mariadb.log" in_ctl mariadb -e 'select 1'
  local db
  for db in "${MARIADB_DATABASES[@]}"; do
    local user=${db%%_*}
    # On stdin: a password in `mariadb -e` would show in the process list.
    in_ctl mariadb <<SQL
CREATE DATABASE IF NOT EXISTS $db;
CREATE USER IF NOT EXISTS '$user'@'%' IDENTIFIED BY '$(secret "db-$user")';
ALTER USER '$user'@'%' IDENTIFIED BY '$(secret "db-$user")';
GRANT ALL PRIVILEGES ON $db.* TO '$user'@'%';
SQL
  done
}
